// Greedy KV-cache decoding, step by step as HF 4.44 GenerationMixin._sample does it:
//   prefill: logits = model(prompt, mask, pos = cumsum(mask)-1 | 1 on pads), keep logits[:, -1]
//   loop:    next = argmax(logits); finished rows get pad; append next; mask += 1 column;
//            feed next alone at position cumsum(mask)-1, attending over the cache.
#include "vr/model/generate.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/attention_mask.h"

namespace vr::model {

GenerateResult generate_greedy(LlamaForCausalLMImpl& model, const LlamaInputs& prompt, const GenerateOptions& opt) {
  VR_CHECK(opt.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got {}", opt.max_new_tokens);
  VR_CHECK(opt.pad_token_id >= 0 && opt.pad_token_id < model.config().vocab_size,
           "generate: pad_token_id {} is outside the vocabulary [0, {})", opt.pad_token_id, model.config().vocab_size);
  torch::NoGradGuard no_grad;
  const bool from_ids = prompt.input_ids.defined();
  const at::Tensor& first = from_ids ? prompt.input_ids : prompt.inputs_embeds;
  VR_CHECK(first.defined() && first.dim() >= 2, "generate: the prompt needs input_ids [B,T] or inputs_embeds [B,T,H]");
  const int64_t B = first.size(0), T = first.size(1);
  auto device = first.device();
  auto long_opts = at::TensorOptions().dtype(at::kLong).device(device);

  GenerateResult r;
  at::Tensor mask = prompt.attention_mask.defined() ? prompt.attention_mask.to(long_opts) : at::ones({B, T}, long_opts);
  VR_CHECK(mask.dim() == 2 && mask.size(0) == B && mask.size(1) == T, "generate: attention_mask must be [{}, {}]", B, T);

  LlamaInputs step = prompt;
  step.attention_mask = mask;
  if (!step.position_ids.defined()) step.position_ids = position_ids_from_mask(mask);
  step.labels = at::Tensor();
  step.output_hidden_states = step.output_attentions = false;

  auto unfinished = at::ones({B}, long_opts);
  std::vector<at::Tensor> ids, logits, flags;
  for (int64_t k = 0; k < opt.max_new_tokens; ++k) {
    auto out = model.forward_cached(step, &r.cache);
    auto next_logits = out.logits.select(1, out.logits.size(1) - 1).to(at::kFloat);  // [B,V]
    auto next = next_logits.argmax(-1);                                              // [B]
    next = next * unfinished + opt.pad_token_id * (1 - unfinished);
    logits.push_back(next_logits);
    ids.push_back(next);
    flags.push_back(unfinished.clone());
    mask = at::cat({mask, at::ones({B, 1}, long_opts)}, 1);
    if (opt.eos_token_id) unfinished = unfinished * next.ne(*opt.eos_token_id).to(at::kLong);
    if (unfinished.max().item<int64_t>() == 0 || k + 1 == opt.max_new_tokens) break;
    step = LlamaInputs();
    step.input_ids = next.unsqueeze(1);
    step.attention_mask = mask;
    step.position_ids = position_ids_from_mask(mask).narrow(1, mask.size(1) - 1, 1);
  }
  r.attention_mask = mask;
  if (ids.empty()) {
    r.generated_ids = at::empty({B, 0}, long_opts);
    r.unfinished = at::empty({B, 0}, long_opts);
    r.step_logits = at::empty({0, B, model.config().vocab_size}, at::TensorOptions().device(device));
  } else {
    r.generated_ids = at::stack(ids, 1);
    r.unfinished = at::stack(flags, 1);
    r.step_logits = at::stack(logits, 0);
  }
  if (from_ids) r.sequences = at::cat({prompt.input_ids.to(long_opts), r.generated_ids}, 1);
  return r;
}

}  // namespace vr::model
