// Normalizers of tokenizer.json: Sequence, Prepend, Replace, Strip (Unicode normalization forms are refused
// with a clear error: none of the supported model families uses them).
#include <nlohmann/json.hpp>

#include "text/tokenizer_components.h"
#include "text/tokenizer_regex.h"
#include "vr/core/error.h"

namespace vr::text::tokenizer_detail {

namespace {

using nlohmann::json;

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(Piece& piece) const override {
    for (const auto& p : parts_) p->normalize(piece);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// Prepend(s): s + text for non-empty text. Llama-2's "▁" word prefix. With the non-legacy SentencePiece
// rule only the stretch at the start of the whole text gets it, not the text after a special token.
class PrependNormalizer : public Normalizer {
 public:
  PrependNormalizer(std::string prefix, bool only_at_text_start)
      : prefix_(std::move(prefix)), only_at_text_start_(only_at_text_start) {}
  void normalize(Piece& piece) const override {
    if (piece.text.empty() || (only_at_text_start_ && !piece.at_text_start)) return;
    piece.text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
  bool only_at_text_start_;
};

// Replace(pattern → content) for every non-overlapping occurrence; pattern is a literal or a regex.
class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::string literal, std::unique_ptr<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(Piece& piece) const override {
    std::string& s = piece.text;
    if (regex_) {
      std::vector<std::pair<size_t, size_t>> matches;
      regex_->find_all(s, matches);
      if (matches.empty()) return;
      std::string out;
      size_t prev = 0;
      for (auto [b, e] : matches) {
        out.append(s, prev, b - prev);
        out += content_;
        prev = e;
      }
      out.append(s, prev, std::string::npos);
      s = std::move(out);
      return;
    }
    if (literal_.empty() || s.find(literal_) == std::string::npos) return;
    std::string out;
    out.reserve(s.size() + s.size() / 2);
    size_t prev = 0;
    for (size_t pos; (pos = s.find(literal_, prev)) != std::string::npos; prev = pos + literal_.size()) {
      out.append(s, prev, pos - prev);
      out += content_;
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

// Strip(left, right): removes Unicode whitespace at either end.
class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right)
      : regex_(std::string(left ? "^\\s+" : "") + (left && right ? "|" : "") + (right ? "\\s+$" : ""),
               "normalizer Strip") {}
  void normalize(Piece& piece) const override {
    std::vector<std::pair<size_t, size_t>> m;
    regex_.find_all(piece.text, m);
    for (auto it = m.rbegin(); it != m.rend(); ++it) piece.text.erase(it->first, it->second - it->first);
  }

 private:
  Regex regex_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const BuildOptions& options) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& sub : j.at("normalizers"))
      if (auto n = make_normalizer(sub, options)) parts.push_back(std::move(n));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(j.at("prepend").get<std::string>(), !options.sentencepiece_legacy);
  if (type == "Replace") {
    const json& pattern = j.at("pattern");
    std::string content = j.at("content").get<std::string>();
    if (pattern.contains("Regex"))
      return std::make_unique<ReplaceNormalizer>(
          "", std::make_unique<Regex>(pattern.at("Regex").get<std::string>(), "normalizer Replace"), content);
    return std::make_unique<ReplaceNormalizer>(pattern.at("String").get<std::string>(), nullptr, content);
  }
  if (type == "Strip") return std::make_unique<StripNormalizer>(j.value("strip_left", true), j.value("strip_right", true));
  VR_FAIL("tokenizer.json: normalizer '{}' is not supported (supported: Sequence, Prepend, Replace, Strip)", type);
}

bool uses_sentencepiece_prefix(const json& normalizer, const json& pre_tokenizer) {
  auto has_type = [](const json& j, const char* type, const char* list_key, auto& self) -> bool {
    if (!j.is_object()) return false;
    if (j.value("type", "") == type) return true;
    if (j.contains(list_key))
      for (const auto& sub : j.at(list_key))
        if (self(sub, type, list_key, self)) return true;
    return false;
  };
  return has_type(normalizer, "Prepend", "normalizers", has_type) ||
         has_type(pre_tokenizer, "Metaspace", "pretokenizers", has_type);
}

}  // namespace vr::text::tokenizer_detail
