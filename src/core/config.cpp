// Typed config binding. bind() is run once with a FieldCollector that records a typed reference to every
// field; loading, overrides, dumping and --help then all work on that one list, so they cannot disagree.
//
// YAML → fields: nested maps flatten to dotted paths ("train: {lr: 1}" and "train.lr: 1" are the same key).
// Scalars are converted by strict parsers below (not yaml-cpp's lenient as<T>): an integer field rejects 2.5,
// a bool accepts only true/false, and every error names source:line, the path and the offending value.
#include "vr/core/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include <yaml-cpp/yaml.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"

namespace vr {

namespace {

using FieldRef = std::variant<bool*, int64_t*, double*, std::string*, std::vector<int64_t>*, std::vector<std::string>*>;

struct Field {
  std::string path, help;
  FieldRef ref;
  std::vector<std::string> allowed;  // non-empty for choice()
};

// The one ConfigBinder: records what bind() declares.
class FieldCollector : public ConfigBinder {
 public:
  std::vector<Field> fields;
  void field(const std::string& p, bool& v, const std::string& h) override { add(p, &v, h); }
  void field(const std::string& p, int64_t& v, const std::string& h) override { add(p, &v, h); }
  void field(const std::string& p, double& v, const std::string& h) override { add(p, &v, h); }
  void field(const std::string& p, std::string& v, const std::string& h) override { add(p, &v, h); }
  void field(const std::string& p, std::vector<int64_t>& v, const std::string& h) override { add(p, &v, h); }
  void field(const std::string& p, std::vector<std::string>& v, const std::string& h) override { add(p, &v, h); }
  void choice(const std::string& p, std::string& v, const std::vector<std::string>& allowed,
              const std::string& h) override {
    VR_CHECK(!allowed.empty(), "config field '{}': choice() needs at least one allowed value", p);
    add(p, &v, h);
    fields.back().allowed = allowed;
  }

 private:
  void add(const std::string& path, FieldRef ref, const std::string& help) {
    VR_CHECK(!path.empty() && path.front() != '.' && path.back() != '.' && path.find("..") == std::string::npos,
             "config field '{}': invalid dotted path", path);
    for (const auto& f : fields) {
      VR_CHECK(f.path != path, "config field '{}' is bound twice", path);
      // "a.b" cannot be both a value and a section holding "a.b.c": the YAML could not express both.
      VR_CHECK(f.path.rfind(path + ".", 0) != 0 && path.rfind(f.path + ".", 0) != 0,
               "config fields '{}' and '{}': one is a section of the other", f.path, path);
    }
    fields.push_back({path, help, ref, {}});
  }
};

std::vector<Field> collect(Bindable& cfg) {
  FieldCollector c;
  cfg.bind(c);
  return std::move(c.fields);
}

std::vector<std::string> paths_of(const std::vector<Field>& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields) out.push_back(f.path);
  return out;
}

bool is_section(const std::vector<Field>& fields, const std::string& path) {
  for (const auto& f : fields)
    if (f.path.rfind(path + ".", 0) == 0) return true;
  return false;
}

std::string unknown_key_message(const std::string& path, const std::vector<Field>& fields) {
  std::string best = closest_match(path, paths_of(fields));
  return best.empty() ? fmt::format("unknown key '{}'", path)
                      : fmt::format("unknown key '{}' (did you mean '{}'?)", path, best);
}

// ---- strict scalar parsing; each returns an error text ("" on success) ----------------------------------

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool parse_double_text(const std::string& text, double& out) {
  const std::string t = trim(text);
  // YAML spellings of the special values
  if (t == ".inf" || t == ".Inf" || t == ".INF" || t == "+.inf") return out = INFINITY, true;
  if (t == "-.inf" || t == "-.Inf" || t == "-.INF") return out = -INFINITY, true;
  if (t == ".nan" || t == ".NaN" || t == ".NAN") return out = NAN, true;
  if (t.empty() || std::isspace(static_cast<unsigned char>(t[0]))) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() && errno != ERANGE;
}

// How a value appears in messages: numbers bare, other text quoted.
std::string show(const std::string& text) {
  double d;
  return parse_double_text(text, d) ? text : "\"" + text + "\"";
}

std::string parse_scalar(const std::string& text, bool& out) {
  std::string t = trim(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "true") return out = true, "";
  if (t == "false") return out = false, "";
  return "expected true or false, got " + show(text);
}

std::string parse_scalar(const std::string& text, int64_t& out) {
  const std::string t = trim(text);
  char* end = nullptr;
  errno = 0;
  long long v = t.empty() ? 0 : std::strtoll(t.c_str(), &end, 10);
  if (!t.empty() && end == t.c_str() + t.size()) {
    if (errno == ERANGE) return "integer " + t + " is out of range";
    out = v;
    return "";
  }
  // 1e6 is a fine way to write a million; 2.5 is not an integer.
  double d;
  if (parse_double_text(t, d)) {
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {  // exact below 2^53
      out = static_cast<int64_t>(d);
      return "";
    }
    return "expected an integer, got " + t;
  }
  return "expected an integer, got " + show(text);
}

std::string parse_scalar(const std::string& text, double& out) {
  return parse_double_text(text, out) ? "" : "expected a number, got " + show(text);
}

// ---- applying values --------------------------------------------------------------------------------------

// A value to apply: a YAML node from a file, or the raw text of a --set (whose lists may be "1,5,9").
struct Value {
  YAML::Node node;
  bool from_override = false;
  std::string raw;  // --set text
};

std::string describe_node(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  if (n.IsNull()) return "nothing (null)";
  return show(n.Scalar());
}

// The list elements of a value, or an error text.
std::string list_items(const Value& v, std::vector<std::string>& items) {
  items.clear();
  if (v.from_override) {
    // "--set layers=1,5,9" or "[1, 5, 9]" or "[]" or a single value; the elements themselves are YAML scalars
    std::string t = trim(v.raw);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = trim(t.substr(1, t.size() - 2));
    if (t.empty()) return "";
    std::stringstream ss(t);
    std::string part;
    while (std::getline(ss, part, ',')) {
      part = trim(part);
      if (part.size() >= 2 && (part.front() == '"' || part.front() == '\'') && part.back() == part.front())
        part = part.substr(1, part.size() - 2);
      items.push_back(part);
    }
    return "";
  }
  if (!v.node.IsSequence()) return "expected a list, got " + describe_node(v.node);
  for (const auto& item : v.node) {
    if (!item.IsScalar()) return "expected a list of values, got an element that is " + describe_node(item);
    items.push_back(item.Scalar());
  }
  return "";
}

std::string scalar_text(const Value& v, std::string& text, const char* expected) {
  if (v.from_override) return text = v.raw, "";
  if (!v.node.IsScalar()) return fmt::format("expected {}, got {}", expected, describe_node(v.node));
  return text = v.node.Scalar(), "";
}

// Applies `v` to field `f`; returns an error text without location ("" on success).
std::string apply(const Field& f, const Value& v) {
  std::string text, err;
  struct Visitor {
    const Field& f;
    const Value& v;
    std::string& text;
    std::string operator()(bool* p) {
      std::string e = scalar_text(v, text, "true or false");
      return e.empty() ? parse_scalar(text, *p) : e;
    }
    std::string operator()(int64_t* p) {
      std::string e = scalar_text(v, text, "an integer");
      return e.empty() ? parse_scalar(text, *p) : e;
    }
    std::string operator()(double* p) {
      std::string e = scalar_text(v, text, "a number");
      return e.empty() ? parse_scalar(text, *p) : e;
    }
    std::string operator()(std::string* p) {
      std::string e = scalar_text(v, text, "a string");
      if (!e.empty()) return e;
      if (!f.allowed.empty() && std::find(f.allowed.begin(), f.allowed.end(), text) == f.allowed.end()) {
        std::string all;
        for (const auto& a : f.allowed) all += (all.empty() ? "" : ", ") + a;
        std::string best = closest_match(text, f.allowed);
        return fmt::format("expected one of {}, got \"{}\"{}", all, text,
                           best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best));
      }
      *p = text;
      return "";
    }
    std::string operator()(std::vector<int64_t>* p) {
      std::vector<std::string> items;
      std::string e = list_items(v, items);
      if (!e.empty()) return e;
      std::vector<int64_t> out(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        e = parse_scalar(items[i], out[i]);
        if (!e.empty()) return fmt::format("element {}: {}", i, e);
      }
      *p = out;
      return "";
    }
    std::string operator()(std::vector<std::string>* p) {
      std::vector<std::string> items;
      std::string e = list_items(v, items);
      if (e.empty()) *p = items;
      return e;
    }
  };
  return std::visit(Visitor{f, v, text}, f.ref);
}

// ---- YAML documents ---------------------------------------------------------------------------------------

struct Leaf {
  std::string path;
  YAML::Node value;
  int line;  // 1-based, 0 when unknown
};

int line_of(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

std::string where(const std::string& source, int line) {
  return line > 0 ? fmt::format("{}:{}", source, line) : source;
}

// Flattens nested maps into dotted leaves in document order. A map is descended into unless its path is a
// field itself (then the field's conversion reports "got a map").
void flatten(const YAML::Node& map, const std::string& prefix, const std::vector<Field>& fields,
             const std::string& source, std::vector<Leaf>& out, std::map<std::string, int>& seen) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const int line = line_of(it->first);
    VR_CHECK(it->first.IsScalar(), "{}: keys must be plain names", where(source, line));
    const std::string path = prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar();
    const bool is_field = std::any_of(fields.begin(), fields.end(), [&](const Field& f) { return f.path == path; });
    if (it->second.IsMap() && !is_field) {
      flatten(it->second, path, fields, source, out, seen);
      continue;
    }
    auto [pos, fresh] = seen.emplace(path, line);
    VR_CHECK(fresh, "{}: key '{}' is set twice (first at line {})", where(source, line), path, pos->second);
    out.push_back({path, it->second, line});
  }
}

void apply_document(Bindable& cfg, const YAML::Node& root, const std::string& source) {
  if (!root.IsDefined() || root.IsNull()) return;  // empty file: nothing to change
  VR_CHECK(root.IsMap(), "{}: expected a map of settings at the top level, got {}", where(source, line_of(root)),
           describe_node(root));
  const std::vector<Field> fields = collect(cfg);
  std::vector<Leaf> leaves;
  std::map<std::string, int> seen;
  flatten(root, "", fields, source, leaves, seen);
  // Every key is checked before any value is applied, so the first typo is reported, not a later type error.
  for (const auto& leaf : leaves) {
    if (std::any_of(fields.begin(), fields.end(), [&](const Field& f) { return f.path == leaf.path; })) continue;
    if (is_section(fields, leaf.path)) {
      if (leaf.value.IsNull()) continue;  // "train:" with nothing under it
      VR_FAIL("{}: '{}' is a section: expected a map of settings, got {}", where(source, leaf.line), leaf.path,
              describe_node(leaf.value));
    }
    VR_FAIL("{}: {}", where(source, leaf.line), unknown_key_message(leaf.path, fields));
  }
  for (const auto& leaf : leaves) {
    for (const auto& f : fields) {
      if (f.path != leaf.path) continue;
      std::string err = apply(f, Value{leaf.value, false, ""});
      // a null value's mark points past the key's line; report the key's line then
      const int line = leaf.value.IsNull() || !line_of(leaf.value) ? leaf.line : line_of(leaf.value);
      VR_CHECK(err.empty(), "{}: {}: {}", where(source, line), f.path, err);
    }
  }
}

// ---- dumping ------------------------------------------------------------------------------------------------

// Shortest text that reads back to the same double, always recognisable as a float ("1.0", "2e-05").
std::string format_double(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

void emit_value(YAML::Emitter& out, const Field& f) {
  struct Visitor {
    YAML::Emitter& out;
    void operator()(bool* p) { out << (*p ? "true" : "false"); }
    void operator()(int64_t* p) { out << std::to_string(*p); }
    void operator()(double* p) { out << format_double(*p); }
    void operator()(std::string* p) { out << YAML::DoubleQuoted << *p; }
    void operator()(std::vector<int64_t>* p) {
      out << YAML::Flow << YAML::BeginSeq;
      for (auto x : *p) out << std::to_string(x);
      out << YAML::EndSeq;
    }
    void operator()(std::vector<std::string>* p) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto& x : *p) out << YAML::DoubleQuoted << x;
      out << YAML::EndSeq;
    }
  };
  std::visit(Visitor{out}, f.ref);
}

// Emits fields[lo, hi) whose paths share `prefix`, grouping each section where it first appears.
void emit_section(YAML::Emitter& out, const std::vector<const Field*>& fields, const std::string& prefix) {
  out << YAML::BeginMap;
  std::set<std::string> done;
  for (const Field* f : fields) {
    const std::string rest = f->path.substr(prefix.size());
    const size_t dot = rest.find('.');
    const std::string key = rest.substr(0, dot);
    if (!done.insert(key).second) continue;
    out << YAML::Key << key << YAML::Value;
    if (dot == std::string::npos) {
      emit_value(out, *f);
      continue;
    }
    std::vector<const Field*> inner;
    for (const Field* g : fields)
      if (g->path.rfind(prefix + key + ".", 0) == 0) inner.push_back(g);
    emit_section(out, inner, prefix + key + ".");
  }
  out << YAML::EndMap;
}

std::string type_name(const Field& f) {
  struct Visitor {
    const Field& f;
    std::string operator()(bool*) { return "bool"; }
    std::string operator()(int64_t*) { return "int"; }
    std::string operator()(double*) { return "float"; }
    std::string operator()(std::string*) {
      if (f.allowed.empty()) return "string";
      std::string all;
      for (const auto& a : f.allowed) all += (all.empty() ? "" : "|") + a;
      return "{" + all + "}";
    }
    std::string operator()(std::vector<int64_t>*) { return "list of int"; }
    std::string operator()(std::vector<std::string>*) { return "list of string"; }
  };
  return std::visit(Visitor{f}, f.ref);
}

std::string value_text(const Field& f) {
  YAML::Emitter out;
  emit_value(out, f);
  return out.c_str();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string last_segment(const std::string& path) {
  size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  // Score = edit distance of the whole path, or of the last segment plus one (the key is right but sits in
  // the wrong section, e.g. "lr" for "train.lr"). Accept when the score is small next to the word's length.
  std::string best;
  size_t best_score = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t score = std::min(edit_distance(word, c), edit_distance(last_segment(word), last_segment(c)) + 1);
    if (score < best_score) best_score = score, best = c;
  }
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_score <= limit ? best : "";
}

void load_yaml_string(Bindable& cfg, const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    VR_FAIL("{}: invalid YAML: {}", where(source, e.mark.is_null() ? 0 : e.mark.line + 1), e.msg);
  }
  apply_document(cfg, root, source);
}

void load_yaml_config(Bindable& cfg, const std::string& file) {
  load_yaml_string(cfg, read_file(file), file);
}

void apply_overrides(Bindable& cfg, const std::vector<std::string>& assignments) {
  const std::vector<Field> fields = collect(cfg);
  for (const auto& a : assignments) {
    const size_t eq = a.find('=');
    VR_CHECK(eq != std::string::npos && eq > 0, "--set '{}': expected key=value, e.g. train.lr=1e-4", a);
    const std::string path = trim(a.substr(0, eq));
    auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.path == path; });
    VR_CHECK(it != fields.end(), "--set {}: {}", a, unknown_key_message(path, fields));
    std::string err = apply(*it, Value{YAML::Node(), true, a.substr(eq + 1)});
    VR_CHECK(err.empty(), "--set {}: {}: {}", a, path, err);
  }
}

std::string dump_yaml(Bindable& cfg) {
  const std::vector<Field> fields = collect(cfg);
  if (fields.empty()) return "{}\n";
  std::vector<const Field*> all;
  for (const auto& f : fields) all.push_back(&f);
  YAML::Emitter out;
  emit_section(out, all, "");
  return std::string(out.c_str()) + "\n";
}

std::string describe_fields(Bindable& cfg) {
  const std::vector<Field> fields = collect(cfg);
  size_t w_path = 0, w_type = 0, w_value = 0;
  for (const auto& f : fields) {
    w_path = std::max(w_path, f.path.size());
    w_type = std::max(w_type, type_name(f).size());
    w_value = std::max(w_value, value_text(f).size());
  }
  std::string out;
  for (const auto& f : fields)
    out += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {}\n", f.path, w_path, type_name(f), w_type, value_text(f),
                       w_value, f.help);
  return out;
}

}  // namespace vr
