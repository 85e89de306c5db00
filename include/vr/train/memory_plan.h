// Peak training memory predicted from shapes, before the first step: does this config fit the device?
// Printed by `vrtrain train --dry-run` (and at the start of every run); checked against the measured peak RSS of
// tiny CPU runs (tests/train/memory_plan_test.cpp) and used to size Bunny-Llama-3-8B-V (docs/training.md).
//
// Shapes: B micro-batch, T merged tokens per sample (text + image features), E = B·T, H hidden, I MLP width,
// nH heads, V vocab, s bytes per element of the compute dtype (4 fp32, 2 bf16), P = B·nH·T² attention scores.
// What is held, and when (vrtrain's own code: llama.cpp, lm_loss.cpp, optimizer.cpp, activation_checkpointing.cpp):
//   weights       every parameter at s bytes
//   optimizer     AdamW: exp_avg + exp_avg_sq in fp32 (8 bytes per trainable element), + an fp32 master copy
//                 (4 more) when the weights are not fp32
//   gradients     s bytes per trainable element, from its layer's backward until the optimizer step (all of the
//                 step with grad_accum > 1)
//   activations   per decoder layer, what autograd saves (measured with saved_tensors_hooks on this LibTorch, see
//                 kLayerBytes in memory_plan.cpp): a·E·H + b·E·I + c·P bytes, where (a, b, c) depend on the dtype
//                 and on whether the layer's weights train — frozen linears save no input. Fused attention
//                 (SDPA) keeps no P; activation checkpointing keeps only each layer's input E·H·s and rebuilds
//                 one layer's set at a time in backward. Plus the projector, the merged embeddings, the final
//                 norm and the loss's [N,H] rows and gradient (N supervised positions).
//   transients    one layer's attention scores in forward (2·P·s) and its backward (P·(8 + 2s)) when eager; one
//                 loss chunk's [rows, V] logits (lm_loss.h); one optimizer tensor's fp32 temporaries.
// The peak is the largest of: the end of the forward, the backward of each layer (walking down: activations of
// the layers below still held, gradients of those above already made), and the optimizer step.
// Not included: the CUDA context (~0.5-1 GiB) and allocator fragmentation; the process baseline on CPU.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/model/lvlm.h"

namespace vr::train {

struct MemoryPlanInputs {
  model::LvlmConfig model;              // shapes
  std::vector<int64_t> tuned_layers;    // LLM layers whose weights (or LoRA adapters) train
  int64_t trainable_params = 0;         // all trainable elements
  bool projector_trainable = true;
  bool lm_head_trainable = false;       // stage full with train.train_embeddings
  bool lora = false;                    // tuned layers carry adapters on frozen weights
  int64_t lora_rank = 0;
  bool lora_dropout = false;
  std::vector<std::string> lora_targets;  // projection names (q_proj, ..., down_proj)
  int64_t bytes_per_element = 4;        // 4 fp32, 2 bf16
  int64_t batch = 1, tokens = 1;        // micro-batch B and merged tokens T per sample
  int64_t images_per_sample = 1;
  int64_t supervised_tokens = 0;        // N per micro-batch; 0: all B·T (the worst case)
  int64_t grad_accum = 1;
  bool gradient_checkpointing = false;
  bool fused_attention = false;         // SDPA (flash / memory-efficient): no [B,nH,T,T] probabilities kept
  bool full_logits = false;             // [B,T,V] logits and full cross-entropy instead of the chunked loss
  int64_t loss_chunk_rows = 0;          // 0: model::default_loss_chunk_rows(V)
};

struct MemoryPlan {
  double weights = 0, optimizer = 0, gradients = 0;  // persistent (gradients at their largest)
  double activations = 0;  // kept for backward at the end of the forward
  double transient = 0;    // the working set on top of the rest at the peak
  double peak = 0;         // the predicted peak
  std::string peak_phase;  // "end of forward", "backward of layer i", "optimizer step"
  std::string table() const;  // one row per component, then the peak
};

MemoryPlan plan_memory(const MemoryPlanInputs& in);

}  // namespace vr::train
