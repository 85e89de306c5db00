// Tiny random LVLMs in Hugging Face llava-hf layout, for smoke runs, CI and tests (`vrtrain make-tiny`).
//   llava: CLIP-style tower (56 px, patch 14 → 16 image tokens), Llama-2-style LLM (MHA, rope 1e4),
//          tokenizer specials <unk> <s> </s> <image> <pad>
//   bunny: SigLIP-style tower (56 px, patch 14 → 16 tokens), Llama-3-style LLM (GQA, rope 5e5),
//          tokenizer specials <|begin_of_text|> <|end_of_text|> <image>
// Both: 8 decoder layers of width 64, a byte-level BPE tokenizer (256 byte tokens + merges for the words of the
// synthetic-shapes data and the chat templates), weights drawn with the given seed (matrices N(0, 1/fan_in),
// norm weights 1, biases 0).
// shapes: a named configuration (model_configs.h, e.g. bunny-llama-3-8b-v) at real width instead, with its family's
// tiny tokenizer (special-token ids from it, the vocabulary size from the configuration) and num_layers decoder
// layers (0: all of them): the real-width random model of the GPU acceptance run (bench/gpu/acceptance.sh).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "vr/model/lvlm.h"

namespace vr::model {

struct TinyModelOptions {
  std::string family = "llava";  // llava | bunny
  int64_t seed = 0;
  int64_t num_layers = 8;
  int64_t hidden_size = 64;
  int64_t intermediate_size = 0;  // 0: 2 x hidden_size
  int64_t num_heads = 4;          // attention heads (bunny: kv heads = heads / 2)
  int64_t image_size = 56;        // multiple of the patch size 14
  std::string shapes;             // a named configuration's shapes instead of the sizes above (family from it)
  std::string dtype = "fp32";     // fp32 | bf16: the stored weights (bf16 halves a real-width file)
};

// The configuration make_tiny_model writes for `opt` (no weights allocated; checks the options).
LvlmConfig tiny_model_config(const TinyModelOptions& opt);

// Writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json, preprocessor_config.json into
// `dir` (replacing it atomically).
void make_tiny_model(const std::string& dir, const TinyModelOptions& opt);

// The tokenizer files on their own (exposed for tests).
nlohmann::json tiny_tokenizer_json(const std::string& family);
nlohmann::json tiny_tokenizer_config(const std::string& family);
nlohmann::json tiny_preprocessor_config(const std::string& family, int64_t image_size);

}  // namespace vr::model
