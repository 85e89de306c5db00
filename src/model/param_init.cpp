#include "vr/model/param_init.h"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace vr::model {

namespace {
thread_local bool t_deferred = false;
}  // namespace

DeferredInitGuard::DeferredInitGuard() : previous_(t_deferred) { t_deferred = true; }
DeferredInitGuard::~DeferredInitGuard() { t_deferred = previous_; }

bool init_deferred() { return t_deferred; }

// Deferred: torch::nn builds a layer with no output (its init runs over empty tensors: no number drawn, since the
// fan-in it divides by is 1, not 0), then it gets the real options and shapes, unset. The tensors keep their
// identity (set_data), so the module's parameter list and members stay what torch::nn made.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias) {
  const auto options = torch::nn::LinearOptions(in, out).bias(bias);
  if (!t_deferred) return torch::nn::Linear(options);
  torch::nn::Linear layer(torch::nn::LinearOptions(1, 0).bias(bias));
  layer->options = options;
  torch::NoGradGuard no_grad;
  layer->weight.set_data(torch::empty({out, in}));
  if (bias) layer->bias.set_data(torch::empty({out}));
  return layer;
}

torch::nn::Embedding make_embedding(const torch::nn::EmbeddingOptions& options) {
  if (!t_deferred) return torch::nn::Embedding(options);
  torch::nn::Embedding layer(torch::nn::EmbeddingOptions(0, 1));  // no rows, no padding_idx
  layer->options = options;
  torch::NoGradGuard no_grad;
  layer->weight.set_data(torch::empty({options.num_embeddings(), options.embedding_dim()}));
  return layer;
}

torch::nn::Conv2d make_conv2d(const torch::nn::Conv2dOptions& options) {
  if (!t_deferred) return torch::nn::Conv2d(options);
  // torch::nn's conv init reads weight[0][0], so an empty stand-in is refused: a 1x1 one per group, whose few draws
  // are taken back (the default generator's state restored), so a load still draws nothing.
  const int64_t g = options.groups();
  auto tiny = options;
  tiny.in_channels(g).out_channels(g).kernel_size(1);
  torch::nn::Conv2d layer{nullptr};
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    at::Tensor state;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      state = gen.get_state();
    }
    layer = torch::nn::Conv2d(tiny);  // draws under the generator's lock itself
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  layer->options.in_channels(options.in_channels()).out_channels(options.out_channels()).kernel_size(options.kernel_size());
  torch::NoGradGuard no_grad;
  const auto& k = options.kernel_size();
  layer->weight.set_data(torch::empty({options.out_channels(), options.in_channels() / g, k->at(0), k->at(1)}));
  if (options.bias()) layer->bias.set_data(torch::empty({options.out_channels()}));
  return layer;
}

}  // namespace vr::model
