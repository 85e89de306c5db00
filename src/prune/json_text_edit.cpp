// A minimal JSON scanner that only finds byte offsets: values are skipped, never converted, so the text outside
// the edited value is copied unchanged. The result is re-parsed and checked against the intended edit.
#include "vr/prune/json_text_edit.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"

namespace vr::prune {

namespace {

class Scanner {
 public:
  Scanner(const std::string& t, const std::string& source) : t_(t), source_(source) {}

  size_t skip_ws(size_t i) const {
    while (i < t_.size() && (t_[i] == ' ' || t_[i] == '\n' || t_[i] == '\r' || t_[i] == '\t')) ++i;
    return i;
  }
  // A string starting at i (the opening quote); returns the index after the closing quote, its raw content in *raw.
  size_t skip_string(size_t i, std::string* raw = nullptr) const {
    expect(i, '"');
    size_t j = i + 1;
    while (j < t_.size() && t_[j] != '"') j += t_[j] == '\\' ? 2 : 1;
    if (j >= t_.size()) fail(i, "unterminated string");
    if (raw) *raw = t_.substr(i + 1, j - i - 1);
    return j + 1;
  }
  // Any value starting at i (after whitespace); returns the index after it.
  size_t skip_value(size_t i) const {
    if (i >= t_.size()) fail(i, "value expected");
    const char c = t_[i];
    if (c == '"') return skip_string(i);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      size_t j = skip_ws(i + 1);
      if (j < t_.size() && t_[j] == close) return j + 1;
      while (true) {
        if (c == '{') {
          j = skip_ws(skip_string(j));
          expect(j, ':');
          j = skip_ws(j + 1);
        }
        j = skip_ws(skip_value(j));
        if (j < t_.size() && t_[j] == ',') {
          j = skip_ws(j + 1);
          continue;
        }
        expect(j, close);
        return j + 1;
      }
    }
    size_t j = i;  // number, true, false, null
    while (j < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[j])) || t_[j] == '-' || t_[j] == '+' ||
                             t_[j] == '.'))
      ++j;
    if (j == i) fail(i, "value expected");
    return j;
  }

  struct Member {
    bool found = false;
    size_t value_begin = 0, value_end = 0;
  };
  // In the object starting at `open` ('{'), the member named `key` (unescaped names only).
  Member find_member(size_t open, const std::string& key) const {
    expect(open, '{');
    Member m;
    size_t j = skip_ws(open + 1);
    if (j < t_.size() && t_[j] == '}') return m;
    while (true) {
      std::string name;
      j = skip_ws(skip_string(j, &name));
      expect(j, ':');
      j = skip_ws(j + 1);
      const size_t end = skip_value(j);
      if (name == key) {
        m.found = true;
        m.value_begin = j;
        m.value_end = end;
      }
      j = skip_ws(end);
      if (j < t_.size() && t_[j] == ',') {
        j = skip_ws(j + 1);
        continue;
      }
      expect(j, '}');
      return m;
    }
  }
  // Whitespace between '{' and its first member ("" for an empty object).
  std::string member_indent(size_t open) const {
    size_t j = skip_ws(open + 1);
    if (j < t_.size() && t_[j] == '}') return "";
    return t_.substr(open + 1, j - open - 1);
  }
  bool empty_object(size_t open) const {
    size_t j = skip_ws(open + 1);
    return j < t_.size() && t_[j] == '}';
  }

  [[noreturn]] void fail(size_t i, const char* what) const {
    VR_FAIL("{}: not valid JSON at byte {}: {}", source_, i, what);
  }
  void expect(size_t i, char c) const {
    if (i >= t_.size() || t_[i] != c) VR_FAIL("{}: not valid JSON at byte {}: expected '{}'", source_, i, c);
  }

 private:
  const std::string& t_;
  const std::string& source_;
};

std::string nested(const std::vector<std::string>& path, size_t from, int64_t value) {
  std::string s = std::to_string(value);
  for (size_t k = path.size(); k-- > from + 1;) s = "{\"" + path[k] + "\": " + s + "}";
  return s;
}

}  // namespace

std::string set_json_integer_in_text(const std::string& text, const std::vector<std::string>& path, int64_t value,
                                     const std::string& source) {
  VR_CHECK(!path.empty(), "set_json_integer_in_text: empty path");
  nlohmann::json expected;
  try {
    expected = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("{}: not valid JSON ({})", source, e.what());
  }
  VR_CHECK(expected.is_object(), "{}: expected a JSON object", source);

  Scanner sc(text, source);
  size_t open = sc.skip_ws(0);
  std::string out;
  for (size_t d = 0; d < path.size(); ++d) {
    auto m = sc.find_member(open, path[d]);
    const bool last = d + 1 == path.size();
    if (m.found && last) {
      out = text.substr(0, m.value_begin) + std::to_string(value) + text.substr(m.value_end);
      break;
    }
    if (m.found) {
      VR_CHECK(text[m.value_begin] == '{', "{}: '{}' is not an object", source, path[d]);
      open = m.value_begin;
      continue;
    }
    // Absent: insert `"key": value` (or the nested objects) as the object's first member.
    const std::string member = "\"" + path[d] + "\": " + nested(path, d, value);
    const std::string indent = sc.member_indent(open);
    out = text.substr(0, open + 1) + indent + member + (sc.empty_object(open) ? "" : ",") + text.substr(open + 1);
    break;
  }

  // The edit must be exactly the intended one.
  nlohmann::json* node = &expected;
  for (size_t d = 0; d + 1 < path.size(); ++d) node = &(*node)[path[d]];
  (*node)[path.back()] = value;
  VR_CHECK(nlohmann::json::parse(out) == expected, "{}: editing {} in the text went wrong", source, path.back());
  return out;
}

}  // namespace vr::prune
