// Decoding with a KV cache, as Hugging Face generate(num_beams=1, use_cache=True): greedy (do_sample=False, the
// default) or sampling with temperature / top-k / top-p. Shapes: B batch, T prompt length (left-padded), n generated
// steps, V vocab. The LVLM entry point (image features merged into the prompt) is in vr/model/lvlm_generate.h.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/Tensor.h>

#include "vr/model/llama.h"

namespace vr::model {

// Called after every step with the ids just chosen, next_ids [B] int64 (pad for rows already finished).
// Returns the rows that must stop now although they emitted no eos (e.g. a stop string was decoded; their id of
// this step is kept, later ones are pad) — empty for none. Used for streaming.
using GenerateStepCallback = std::function<std::vector<int64_t>(int64_t step, const at::Tensor& next_ids)>;

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  std::vector<int64_t> eos_token_ids;  // a row stops after emitting any of them (HF accepts a list; Llama-3 has 2)
  int64_t pad_token_id = 0;            // id forced on finished rows

  // Sampling (HF do_sample=True): logits / temperature, then top-k, then top-p (HF's warper order), softmax,
  // one multinomial draw per row from a CPU generator seeded with `seed`. Off (greedy argmax) by default.
  bool do_sample = false;
  double temperature = 1.0;  // > 0
  int64_t top_k = 0;         // 0 = off (HF's GenerationConfig default is 50; the CLI applies it)
  double top_p = 1.0;        // (0, 1]; 1 = off
  uint64_t seed = 0;

  GenerateStepCallback on_step;  // optional
};

struct GenerateResult {
  at::Tensor generated_ids;   // [B,n] int64; n <= max_new_tokens (stops early once every row finished)
  at::Tensor sequences;       // [B,T+n] prompt ids as given + generated_ids (undefined when the prompt was embeddings)
  at::Tensor step_logits;     // [n,B,V] float32 raw next-token logits of each step (HF output_logits)
  at::Tensor attention_mask;  // [B,S+n] the prompt mask plus a 1 per step for every row (finished ones too);
                              // S = T for Llama, the merged length M for an LVLM
  at::Tensor unfinished;      // [B,n] int64: 1 where the id was chosen by the model, 0 where it was forced to pad
  int64_t prompt_length = 0;  // S: tokens in the prefill (T, or the merged M = T + N(F-1) for legacy LVLM prompts)
  KVCache cache;              // keys/values of the S+n-1 fed positions (the last generated id is never fed)
};

// `prompt`: input_ids [B,T] (or inputs_embeds [B,T,H], e.g. a multimodal prefix) and attention_mask [B,T]
// (0 on left padding; undefined = all ones). Position ids default to cumsum(mask) - 1 with 1 on padding (HF
// generate's rule), and each step's token sits at cumsum(mask) - 1 of the grown mask. Runs under no-grad.
GenerateResult generate_llama(LlamaForCausalLMImpl& model, const LlamaInputs& prompt, const GenerateOptions& opt);

}  // namespace vr::model
