// KV-cache decoding, step by step as HF 4.44 GenerationMixin._sample does it:
//   prefill: logits = model(prompt, mask, pos = cumsum(mask)-1 | 1 on pads), keep logits[:, -1]
//   loop:    next = argmax(logits) (or a sampled id); finished rows get pad; append next; mask += 1 column;
//            feed next alone at position cumsum(mask)-1, attending over the cache.
#include "vr/model/generate.h"

#include <limits>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/attention_mask.h"

namespace vr::model {

namespace {

void check_options(const GenerateOptions& opt, int64_t vocab) {
  VR_CHECK(opt.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got {}", opt.max_new_tokens);
  VR_CHECK(opt.pad_token_id >= 0 && opt.pad_token_id < vocab, "generate: pad_token_id {} is outside the vocabulary [0, {})",
           opt.pad_token_id, vocab);
  for (int64_t e : opt.eos_token_ids)
    VR_CHECK(e >= 0 && e < vocab, "generate: eos_token_id {} is outside the vocabulary [0, {})", e, vocab);
  if (opt.do_sample) {
    VR_CHECK(opt.temperature > 0, "generate: temperature must be > 0 when sampling, got {}", opt.temperature);
    VR_CHECK(opt.top_p > 0 && opt.top_p <= 1, "generate: top_p must be in (0, 1], got {}", opt.top_p);
    VR_CHECK(opt.top_k >= 0, "generate: top_k must be >= 0, got {}", opt.top_k);
  }
}

// HF's warpers on [B,V] float32 logits: TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper (each with
// min_tokens_to_keep = 1), then softmax and torch.multinomial(probs, 1).
at::Tensor sample_next(const at::Tensor& logits, const GenerateOptions& opt, at::Generator& gen) {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  auto scores = logits.to(at::kCPU) / opt.temperature;
  const int64_t V = scores.size(-1);
  if (opt.top_k > 0 && opt.top_k < V) {
    auto kth = std::get<0>(scores.topk(opt.top_k, -1)).narrow(-1, opt.top_k - 1, 1);  // [B,1] k-th largest
    scores = scores.masked_fill(scores < kth, neg_inf);
  }
  if (opt.top_p < 1.0) {
    auto [sorted, order] = scores.sort(-1, /*descending=*/false);
    auto cum = sorted.softmax(-1).cumsum(-1);
    auto remove = cum <= (1.0 - opt.top_p);  // the low tail whose mass stays within 1 - top_p
    remove.narrow(-1, V - 1, 1).fill_(false);  // always keep the most likely id
    scores = scores.masked_fill(remove.scatter(-1, order, remove), neg_inf);
  }
  auto probs = scores.softmax(-1);
  return at::multinomial(probs, 1, false, gen).squeeze(1).to(logits.device());
}

}  // namespace

GenerateResult generate_llama(LlamaForCausalLMImpl& model, const LlamaInputs& prompt, const GenerateOptions& opt) {
  check_options(opt, model.config().vocab_size);
  torch::NoGradGuard no_grad;
  const bool from_ids = prompt.input_ids.defined();
  const at::Tensor& first = from_ids ? prompt.input_ids : prompt.inputs_embeds;
  VR_CHECK(first.defined() && first.dim() >= 2, "generate: the prompt needs input_ids [B,T] or inputs_embeds [B,T,H]");
  const int64_t B = first.size(0), T = first.size(1);
  auto device = first.device();
  auto long_opts = at::TensorOptions().dtype(at::kLong).device(device);

  GenerateResult r;
  r.prompt_length = T;
  at::Tensor mask = prompt.attention_mask.defined() ? prompt.attention_mask.to(long_opts) : at::ones({B, T}, long_opts);
  VR_CHECK(mask.dim() == 2 && mask.size(0) == B && mask.size(1) == T, "generate: attention_mask must be [{}, {}]", B, T);

  LlamaInputs step = prompt;
  step.attention_mask = mask;
  if (!step.position_ids.defined()) step.position_ids = position_ids_from_mask(mask);
  step.labels = at::Tensor();
  step.output_hidden_states = step.output_attentions = false;

  at::Generator gen;
  if (opt.do_sample) gen = at::detail::createCPUGenerator(opt.seed);
  auto eos = at::tensor(opt.eos_token_ids, long_opts);
  auto unfinished = at::ones({B}, long_opts);
  std::vector<at::Tensor> ids, logits, flags;
  for (int64_t k = 0; k < opt.max_new_tokens; ++k) {
    auto out = model.forward_cached(step, &r.cache);
    auto next_logits = out.logits.select(1, out.logits.size(1) - 1).to(at::kFloat);  // [B,V]
    auto next = opt.do_sample ? sample_next(next_logits, opt, gen) : next_logits.argmax(-1);  // [B]
    next = next * unfinished + opt.pad_token_id * (1 - unfinished);
    logits.push_back(next_logits);
    ids.push_back(next);
    flags.push_back(unfinished.clone());
    mask = at::cat({mask, at::ones({B, 1}, long_opts)}, 1);
    if (eos.numel() > 0) unfinished = unfinished * at::isin(next, eos).logical_not().to(at::kLong);
    if (opt.on_step) {
      for (int64_t b : opt.on_step(k, next)) {
        VR_CHECK(b >= 0 && b < B, "generate: the step callback stopped row {} of a batch of {}", b, B);
        unfinished[b].fill_(0);
      }
    }
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
