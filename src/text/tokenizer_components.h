// The stages of a `tokenizer.json` pipeline between added-token matching and the model:
// normalizers, pre-tokenizers, decoders and the post-processor. Each is built from its JSON block by a
// make_* function that throws vr::Error naming the component when the block uses something unsupported.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vr::text::tokenizer_detail {

// A stretch of text on its way through the pipeline. at_text_start: it begins at byte 0 of the text given to
// encode() (Metaspace's prepend_scheme "first" and the non-legacy SentencePiece rule prepend "▁" only there).
struct Piece {
  std::string text;
  bool at_text_start = false;
};

// How the loader adapts SentencePiece-style components (see Tokenizer::legacy()).
struct BuildOptions {
  bool sentencepiece_legacy = true;  // false: "▁" prefix only at the start of the whole text
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(Piece& piece) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits / rewrites every piece; pieces that end up empty are dropped by the caller.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // `tokenizers`' decode_chain: token strings in, (fewer or rewritten) strings out; the caller joins them.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// What the post-processor adds around one sequence when add_special_tokens is true.
struct PostProcess {
  std::vector<int32_t> prefix, suffix;
};

// Each returns nullptr for a JSON null. `token_id` resolves token strings of post-processor templates.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const BuildOptions& options);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const BuildOptions& options);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);
PostProcess make_post_process(const nlohmann::json& j);

// True when the normalizer / pre-tokenizer adds SentencePiece's "▁" word prefix (Prepend("▁") or Metaspace),
// i.e. the tokenizer is of the Llama-2 kind for which the `legacy` flag matters.
bool uses_sentencepiece_prefix(const nlohmann::json& normalizer, const nlohmann::json& pre_tokenizer);

}  // namespace vr::text::tokenizer_detail
