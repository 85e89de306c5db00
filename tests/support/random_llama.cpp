#include "support/random_llama.h"

#include <cmath>

#include <torch/torch.h>

namespace vr::test {

vr::model::LlamaForCausalLM random_llama(const vr::model::LlamaConfig& config, uint64_t seed) {
  torch::manual_seed(seed);
  vr::model::LlamaForCausalLM m(config);
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) {
    if (p.dim() == 1) p.copy_(1 + 0.1 * torch::randn_like(p));
    else p.copy_(torch::randn_like(p) / std::sqrt(static_cast<double>(p.size(1))));
  }
  return m;
}

}  // namespace vr::test
