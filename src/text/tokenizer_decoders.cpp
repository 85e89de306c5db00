// Decoders of tokenizer.json: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence.
// They turn token strings back into text; each follows `tokenizers`' decode_chain for that type.
#include <nlohmann/json.hpp>

#include "text/tokenizer_components.h"
#include "text/tokenizer_text.h"
#include "vr/core/error.h"

namespace vr::text::tokenizer_detail {

namespace {

using nlohmann::json;

// Alphabet chars → bytes for all tokens at once, then one lossy UTF-8 decode of the whole byte string
// (so a character split over two tokens comes back whole). A token with a char outside the alphabet
// (e.g. an added token "<|eot_id|>" is fine, "é" is not) contributes its own UTF-8 bytes unchanged.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      size_t start = bytes.size();
      bool all_mapped = true;
      for (size_t i = 0; i < t.size();) {
        size_t n = utf8_valid_len(t, i);
        int b = n ? byte_level_decode(utf8_decode(t, i)) : -1;
        if (b < 0) {
          all_mapped = false;
          break;
        }
        bytes += static_cast<char>(b);
        i += n;
      }
      if (!all_mapped) {
        bytes.resize(start);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

// "<0xAB>" tokens → bytes; a run of them becomes its UTF-8 text, or one U+FFFD per byte when invalid.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    size_t run_len = 0;
    auto flush = [&] {
      if (!run_len) return;
      if (is_valid_utf8(run)) out.push_back(run);
      else
        for (size_t k = 0; k < run_len; ++k) out.emplace_back("\xEF\xBF\xBD");
      run.clear();
      run_len = 0;
    };
    for (std::string& t : tokens) {
      int byte = parse_byte_token(t);
      if (byte >= 0) {
        run += static_cast<char>(byte);
        ++run_len;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int parse_byte_token(const std::string& t) {
    if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
    auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Strip(content, start, stop): removes up to `start` leading and `stop` trailing copies of one char per token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && t.compare(b, content_.size(), content_) == 0 && b + content_.size() <= e; ++k)
        b += content_.size();
      for (size_t k = 0; k < stop_ && e >= b + content_.size() && t.compare(e - content_.size(), content_.size(), content_) == 0; ++k)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (from_.empty()) return;
    for (std::string& t : tokens) {
      if (t.find(from_) == std::string::npos) continue;
      std::string r;
      size_t prev = 0;
      for (size_t pos; (pos = t.find(from_, prev)) != std::string::npos; prev = pos + from_.size()) {
        r.append(t, prev, pos - prev);
        r += to_;
      }
      r.append(t, prev, std::string::npos);
      t = std::move(r);
    }
  }

 private:
  std::string from_, to_;
};

// Metaspace: "▁" → " " in every token, and the first token loses a leading space unless prepend_scheme is never.
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first) : replace_(replacement, " "), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    replace_.decode_chain(tokens);
    if (strip_first_ && !tokens.empty() && !tokens[0].empty() && tokens[0][0] == ' ') tokens[0].erase(0, 1);
  }

 private:
  ReplaceDecoder replace_;
  bool strip_first_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : parts_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& sub : j.at("decoders"))
      if (auto d = make_decoder(sub)) parts.push_back(std::move(d));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(j.at("content").get<std::string>(), j.value("start", 0), j.value("stop", 0));
  if (type == "Replace") {
    const json& pattern = j.at("pattern");
    VR_CHECK(pattern.contains("String"), "tokenizer.json: decoder Replace with a regex pattern is not supported");
    return std::make_unique<ReplaceDecoder>(pattern.at("String").get<std::string>(), j.at("content").get<std::string>());
  }
  if (type == "Metaspace") {
    bool strip_first = j.contains("prepend_scheme") ? j.at("prepend_scheme").get<std::string>() != "never"
                                                    : j.value("add_prefix_space", true);
    return std::make_unique<MetaspaceDecoder>(j.value("replacement", std::string("\xE2\x96\x81")), strip_first);
  }
  VR_FAIL("tokenizer.json: decoder '{}' is not supported (supported: Sequence, ByteLevel, ByteFallback, Fuse, Strip, "
          "Replace, Metaspace)", type);
}

PostProcess make_post_process(const json& j) {
  PostProcess pp;
  if (j.is_null()) return pp;
  const std::string type = j.value("type", "");
  if (type == "ByteLevel") return pp;  // only adjusts offsets
  if (type == "Sequence") {
    for (const auto& sub : j.at("processors")) {
      PostProcess part = make_post_process(sub);
      pp.prefix.insert(pp.prefix.end(), part.prefix.begin(), part.prefix.end());
      pp.suffix.insert(pp.suffix.begin(), part.suffix.begin(), part.suffix.end());
    }
    return pp;
  }
  if (type == "TemplateProcessing") {
    // single: e.g. [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]; special_tokens maps each
    // SpecialToken id to the ids it stands for.
    const json& specials = j.at("special_tokens");
    bool seen_sequence = false;
    for (const auto& item : j.at("single")) {
      if (item.contains("Sequence")) {
        VR_CHECK(!seen_sequence && item.at("Sequence").value("id", "A") == "A",
                 "tokenizer.json: TemplateProcessing 'single' must hold exactly one $A");
        seen_sequence = true;
        continue;
      }
      VR_CHECK(item.contains("SpecialToken"), "tokenizer.json: TemplateProcessing item {} is not supported", item.dump());
      std::string name = item.at("SpecialToken").at("id").get<std::string>();
      VR_CHECK(specials.contains(name), "tokenizer.json: TemplateProcessing uses '{}' missing from special_tokens", name);
      auto& dst = seen_sequence ? pp.suffix : pp.prefix;
      for (const auto& id : specials.at(name).at("ids")) dst.push_back(id.get<int32_t>());
    }
    VR_CHECK(seen_sequence, "tokenizer.json: TemplateProcessing 'single' has no $A");
    return pp;
  }
  VR_FAIL("tokenizer.json: post_processor '{}' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)", type);
}

}  // namespace vr::text::tokenizer_detail
