// Layers built only to be loaded skip their random initialisation. Loading a checkpoint replaces the data of every
// parameter (vr/model/module_state.h, llama_load.cpp: set_data; a missing tensor is an error), so such a model needs
// its weights' shapes, not their values. LibTorch's layers always initialise: at 8B that is ~8e9 random numbers
// drawn on one CPU thread and every page written, for tensors thrown away a moment later.
//
// While a DeferredInitGuard lives on the thread, make_linear / make_embedding / make_conv2d give layers of the requested shapes
// whose weights are allocated and left unset (torch::empty: large allocations are not even touched); otherwise they
// are torch::nn's layers with its default initialisation (make-tiny, tests, LoRA adapters, a fresh projector).
#pragma once
#include <cstdint>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

namespace vr::model {

class DeferredInitGuard {
 public:
  DeferredInitGuard();
  ~DeferredInitGuard();
  DeferredInitGuard(const DeferredInitGuard&) = delete;
  DeferredInitGuard& operator=(const DeferredInitGuard&) = delete;

 private:
  bool previous_;
};

// True while a DeferredInitGuard lives on this thread.
bool init_deferred();

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias = true);
torch::nn::Embedding make_embedding(const torch::nn::EmbeddingOptions& options);
torch::nn::Conv2d make_conv2d(const torch::nn::Conv2dOptions& options);

}  // namespace vr::model
