// Everything a loaded Tokenizer holds; immutable after from_path() and shared by all copies.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "text/tokenizer_added_tokens.h"
#include "text/tokenizer_bpe.h"
#include "text/tokenizer_components.h"

namespace vr::text::tokenizer_detail {

struct TokenizerState {
  std::string source;  // the tokenizer.json path, for messages
  std::unique_ptr<BpeModel> model;
  AddedTokens added;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Decoder> decoder;
  PostProcess post;  // ids added around the text when add_special_tokens

  std::optional<int64_t> bos, eos, pad, unk;
  bool sentencepiece_style = false;  // Prepend("▁") normalizer or Metaspace pre-tokenizer
  bool legacy = false;               // see Tokenizer::legacy()
  std::string sentencepiece_prefix;  // "▁" for the non-legacy rule before a leading non-special added token
  int64_t vocab_size = 0;
};

// Reads tokenizer.json (+ tokenizer_config.json, special_tokens_map.json next to it).
std::shared_ptr<TokenizerState> load_tokenizer(const std::string& path);

}  // namespace vr::text::tokenizer_detail
