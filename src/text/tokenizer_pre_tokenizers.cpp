// Pre-tokenizers of tokenizer.json: Sequence, Split (regex or literal, all five behaviours), ByteLevel,
// Metaspace, Digits, Whitespace, WhitespaceSplit. They cut the normalized text into the "words" that the
// BPE model sees; no merge ever crosses a cut.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "text/tokenizer_components.h"
#include "text/tokenizer_regex.h"
#include "text/tokenizer_text.h"
#include "vr/core/error.h"

namespace vr::text::tokenizer_detail {

namespace {

using nlohmann::json;
using Ranges = std::vector<std::pair<size_t, size_t>>;

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& s) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  VR_FAIL("tokenizer.json: Split behavior '{}' is not supported", s);
}

struct Span {
  size_t begin, end;
  bool is_match;
};

// Cuts `piece` at `matches` (sorted, non-overlapping) the way `tokenizers`' NormalizedString::split does,
// appending the non-empty results to `out`.
void split_piece(Piece& piece, const Ranges& matches, Behavior behavior, bool invert, std::vector<Piece>& out) {
  const std::string& s = piece.text;
  std::vector<Span> spans;
  spans.reserve(2 * matches.size() + 1);
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev < b) spans.push_back({prev, b, invert});
    spans.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < s.size()) spans.push_back({prev, s.size(), invert});

  std::vector<Span> merged;
  merged.reserve(spans.size());
  switch (behavior) {
    case Behavior::Isolated:
      merged = spans;
      break;
    case Behavior::Removed:
      for (const Span& sp : spans)
        if (!sp.is_match) merged.push_back(sp);
      break;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Span& sp : spans) {
        if (sp.is_match && !previous_match && !merged.empty()) merged.back().end = sp.end;
        else merged.push_back(sp);
        previous_match = sp.is_match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;  // walking right to left: "previous" is the span to the right
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) merged.back().begin = it->begin;
        else merged.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case Behavior::Contiguous: {
      bool previous_match = false;
      for (const Span& sp : spans) {
        if (sp.is_match == previous_match && !merged.empty()) merged.back().end = sp.end;
        else merged.push_back(sp);
        previous_match = sp.is_match;
      }
      break;
    }
  }
  if (merged.size() == 1 && merged[0].begin == 0 && merged[0].end == s.size()) {
    out.push_back(std::move(piece));  // nothing to cut: keep the string, no copy
    return;
  }
  for (const Span& sp : merged)
    if (sp.end > sp.begin) out.push_back(Piece{s.substr(sp.begin, sp.end - sp.begin), piece.at_text_start && sp.begin == 0});
}

void find_literal(const std::string& s, const std::string& literal, Ranges& out) {
  out.clear();
  if (literal.empty()) return;
  for (size_t pos = s.find(literal); pos != std::string::npos; pos = s.find(literal, pos + literal.size()))
    out.emplace_back(pos, pos + literal.size());
}

// Split by a regex or a literal string.
class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> regex, std::string literal, Behavior behavior, bool invert)
      : regex_(std::move(regex)), literal_(std::move(literal)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    Ranges matches;
    for (Piece& p : pieces) {
      if (regex_) regex_->find_all(p.text, matches);
      else find_literal(p.text, literal_, matches);
      split_piece(p, matches, behavior_, invert_, out);
    }
    pieces = std::move(out);
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string literal_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's split pattern, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// ByteLevel: optional " " prefix, optional GPT-2 split, then every byte → its printable alphabet char.
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern, "pre_tokenizer ByteLevel") : nullptr) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_)
      for (Piece& p : pieces)
        if (p.text.empty() || p.text[0] != ' ') p.text.insert(0, 1, ' ');
    if (regex_) {
      std::vector<Piece> out;
      Ranges matches;
      for (Piece& p : pieces) {
        regex_->find_all(p.text, matches);
        split_piece(p, matches, Behavior::Isolated, false, out);
      }
      pieces = std::move(out);
    }
    const auto& alphabet = byte_level_encoding();
    std::string mapped;
    for (Piece& p : pieces) {
      mapped.clear();
      for (unsigned char c : p.text) mapped += alphabet[c];
      p.text.swap(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

// Metaspace: " " → "▁" (the replacement), "▁" prefix per prepend_scheme, optional split before each "▁".
class MetaspacePreTokenizer : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    Ranges matches;
    for (Piece& p : pieces) {
      std::string& s = p.text;
      if (s.find(' ') != std::string::npos) {
        std::string r;
        for (char c : s) {
          if (c == ' ') r += replacement_;
          else r += c;
        }
        s.swap(r);
      }
      bool starts = s.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (prepend_ == Prepend::Always || (prepend_ == Prepend::First && p.at_text_start)))
        s.insert(0, replacement_);
      if (split_) {
        find_literal(s, replacement_, matches);
        split_piece(p, matches, Behavior::MergedWithNext, false, out);
      } else {
        out.push_back(std::move(p));
      }
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const BuildOptions& options) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& sub : j.at("pretokenizers"))
      if (auto p = make_pre_tokenizer(sub, options)) parts.push_back(std::move(p));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "Split") {
    const json& pattern = j.at("pattern");
    Behavior behavior = parse_behavior(j.at("behavior").get<std::string>());
    bool invert = j.value("invert", false);
    if (pattern.contains("Regex"))
      return std::make_unique<SplitPreTokenizer>(
          std::make_unique<Regex>(pattern.at("Regex").get<std::string>(), "pre_tokenizer Split"), "", behavior, invert);
    return std::make_unique<SplitPreTokenizer>(nullptr, pattern.at("String").get<std::string>(), behavior, invert);
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelPreTokenizer>(j.value("add_prefix_space", true), j.value("use_regex", true));
  if (type == "Metaspace") {
    using P = MetaspacePreTokenizer::Prepend;
    P prepend = P::Always;
    if (j.contains("prepend_scheme")) {
      std::string scheme = j.at("prepend_scheme").get<std::string>();
      if (scheme == "always") prepend = P::Always;
      else if (scheme == "first") prepend = P::First;
      else if (scheme == "never") prepend = P::Never;
      else VR_FAIL("tokenizer.json: Metaspace prepend_scheme '{}' is not supported (always, first, never)", scheme);
    } else if (j.contains("add_prefix_space")) {  // older files
      prepend = j.at("add_prefix_space").get<bool>() ? P::Always : P::Never;
    }
    if (prepend == P::Always && !options.sentencepiece_legacy) prepend = P::First;
    std::string replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    return std::make_unique<MetaspacePreTokenizer>(replacement, prepend, j.value("split", true));
  }
  if (type == "Digits")
    return std::make_unique<SplitPreTokenizer>(std::make_unique<Regex>("\\p{N}", "pre_tokenizer Digits"), "",
                                               j.value("individual_digits", false) ? Behavior::Isolated : Behavior::Contiguous,
                                               false);
  if (type == "WhitespaceSplit")
    return std::make_unique<SplitPreTokenizer>(std::make_unique<Regex>("\\s+", "pre_tokenizer WhitespaceSplit"), "",
                                               Behavior::Removed, false);
  if (type == "Whitespace")
    return std::make_unique<SplitPreTokenizer>(std::make_unique<Regex>("\\w+|[^\\w\\s]+", "pre_tokenizer Whitespace"), "",
                                               Behavior::Removed, true);
  VR_FAIL("tokenizer.json: pre_tokenizer '{}' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, "
          "Digits, Whitespace, WhitespaceSplit)", type);
}

}  // namespace vr::text::tokenizer_detail
