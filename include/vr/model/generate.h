// Greedy decoding with a KV cache, as Hugging Face generate(do_sample=False, num_beams=1, use_cache=True).
// Shapes: B batch, T prompt length (left-padded), n generated steps, V vocab.
#pragma once
#include <cstdint>
#include <optional>

#include <ATen/Tensor.h>

#include "vr/model/llama.h"

namespace vr::model {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  std::optional<int64_t> eos_token_id;  // a row stops after emitting it; later ids are pad_token_id
  int64_t pad_token_id = 0;
};

struct GenerateResult {
  at::Tensor generated_ids;   // [B,n] int64; n <= max_new_tokens (stops early once every row emitted eos)
  at::Tensor sequences;       // [B,T+n] prompt ids + generated_ids (undefined when the prompt was embeddings)
  at::Tensor step_logits;     // [n,B,V] float32 raw next-token logits of each step
  at::Tensor attention_mask;  // [B,T+n] the prompt mask plus a 1 per step for every row (finished ones too)
  at::Tensor unfinished;      // [B,n] int64: 1 where the id was the argmax, 0 where it was forced to pad
  KVCache cache;              // keys/values of the T+n-1 fed tokens (the last generated id is never fed)
};

// `prompt`: input_ids [B,T] (or inputs_embeds [B,T,H], e.g. a multimodal prefix) and attention_mask [B,T]
// (0 on left padding; undefined = all ones). Position ids default to cumsum(mask) - 1 with 1 on padding (HF
// generate's rule), and each step's token sits at cumsum(mask) - 1 of the grown mask. Runs under no-grad.
GenerateResult generate_greedy(LlamaForCausalLMImpl& model, const LlamaInputs& prompt, const GenerateOptions& opt);

}  // namespace vr::model
