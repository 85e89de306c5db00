// A before-the-first-step estimate of training memory, so a user sees whether a run fits.
//   weights      every parameter at its storage dtype
//   gradients    trainable elements · dtype size (frozen tensors hold none)
//   optimizer    AdamW: 2 fp32 moments per trainable element, + an fp32 master copy when weights are bf16
//   activations  per decoder layer, B·T·H·(34 + 5·nH·T/H)·s/2 bytes with s = bytes per element (Korthikanti et
//                al. 2022, "Reducing Activation Recomputation", eq. 1, no tensor/sequence parallelism; the /2
//                turns their fp16 count into s-byte elements); with gradient checkpointing only each layer's
//                input B·T·H·s is kept plus one layer's full set during its recomputation; + fp32 logits and
//                their gradient 2·B·T·V·4; the vision tower's activations are ignored when it is frozen.
// T counts merged tokens (text + image positions) per sample.
#pragma once
#include <cstdint>
#include <string>

namespace vr::train {

struct MemoryInputs {
  int64_t total_params = 0, trainable_params = 0;
  int64_t bytes_per_element = 4;  // 4 fp32, 2 bf16
  int64_t batch = 1, tokens = 1;  // micro-batch B and merged sequence length T
  int64_t hidden = 0, heads = 1, layers = 0, vocab = 0;
  bool gradient_checkpointing = false;
};

struct MemoryEstimate {
  double weights = 0, gradients = 0, optimizer = 0, activations = 0;
  double total() const { return weights + gradients + optimizer + activations; }
  std::string table() const;  // one row per component
};

MemoryEstimate estimate_memory(const MemoryInputs& in);

}  // namespace vr::train
