// Peak training memory predicted from shapes, before the first step: does this config fit the device?
// Printed by `vrtrain train --dry-run` (and at the start of every run) and by `vrtrain bench --plan` (shapes only,
// memory_plan_config.h); checked phase by phase against the bytes LibTorch's CPU allocator hands out in tiny CPU
// runs (TensorMemoryMeter, tests/train/memory_plan_test.cpp: within 5 %, observed <= 2.6 %) and used to size
// Bunny-Llama-3-8B-V (docs/training.md). It predicts live tensor bytes: what a CUDA caching allocator reports as
// memory_allocated(), not its reserved pool (fragmentation) nor the CUDA context.
//
// Shapes: B micro-batch, T merged tokens per sample (text + image features), E = B·T, H hidden, I MLP width,
// nH heads, D head dim, V vocab, s bytes per element of the compute dtype (4 fp32, 2 bf16), P = B·nH·T²
// attention scores, N supervised rows, C loss-chunk rows.
// What is held, and when (vrtrain's own code: llama.cpp, lm_loss.cpp, optimizer.cpp, activation_checkpointing.cpp):
//   weights       every parameter (and LoRA adapter) at s bytes
//   optimizer     AdamW: exp_avg + exp_avg_sq in fp32 (8 bytes per trainable element), + an fp32 master copy
//                 (4 more) when the weights are not fp32
//   gradients     s bytes per trainable element, from its layer's backward until the optimizer step (all of the
//                 step with grad_accum > 1)
//   activations   per decoder layer, what autograd saves (measured with saved_tensors_hooks on this LibTorch, see
//                 layer_bytes in memory_plan.cpp): a·E·H + b·E·I + c·P bytes, where (a, b, c) depend on the dtype
//                 and on whether the layer's weights train — frozen linears save no input. Fused attention
//                 (SDPA) keeps no P; activation checkpointing keeps only each layer's input E·H·s (and the mask
//                 and RoPE tables) and rebuilds one layer's set at a time in backward. Plus the projector, the
//                 final norm and the loss's dL/dh rows [N,H].
// Phases, each a total checked against the allocator:
//   forward       the kept sets, then the larger of the loss chunk (fp32 logits and logsumexp's temporary,
//                 8·C·V) and the top layer's attention working set (4P beyond its kept set; 8P fp32 / 10P bf16
//                 under checkpointing, where nothing of it is kept)
//   backward      per layer, top down: the sets below still held, gradients of the layers above made, and the
//                 layer's own backward: its whole set + 3·E·I·s in the MLP's backward, then without the MLP's
//                 part 12P of fp32 probabilities and gradients in eager attention's (SDPA: dq, dk, dv)
//   optimizer     every gradient + one tensor's fp32 temporaries
// Data parallel (W ranks; vr/distributed/gradient_reducer.h), per rank:
//   replicated    fp32 gradient buckets, 4 bytes per trainable element, for the whole run (as PyTorch's DDP)
//   ZeRO          optimizer state 12 bytes per trainable element / W (fp32 master + moments of its partition) and
//                 the fp32 gradient partition (4 / W); in a reducing backward (ZeRO-2: every micro-batch's,
//                 ZeRO-1: the last one's) the fp32 buffers of at most kMaxBucketsInFlight + 1 buckets and the
//                 autograd gradients of one bucket, each parameter's own gradient being freed as its bucket is
//                 sent; ZeRO-1 also holds .grad() (4 per element) across the micro-batches; after the update one
//                 bucket at a time is all-gathered (<= dist.bucket_mb)
//   fp32 gradients  with bf16 weights and grad_accum > 1 or W > 1, .grad() is fp32 (train_step.h): 4 bytes per
//                 trainable element instead of s (not under ZeRO-2, which sums in its fp32 partition)
// Not included: the CUDA context (~0.5-1 GiB), the caching allocator's fragmentation (reserved − allocated),
// NCCL's own buffers, and on CPU the process baseline and glibc's heap.
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
  int64_t world_size = 1;               // data-parallel ranks W
  bool shard_optimizer = false;         // ZeRO (dist.shard_optimizer)
  int64_t zero_stage = 2;               // dist.zero_stage: 2 reduces every micro-batch, 1 once per step
  double bucket_mb = 25;                // dist.bucket_mb: the all-gather's one bucket under ZeRO
  bool fp32_gradients = false;          // .grad() in fp32 (bf16 weights with grad_accum > 1 or W > 1)
};

struct MemoryPlan {
  double weights = 0, optimizer = 0, gradients = 0;  // persistent (gradients at their largest)
  double communication = 0;  // data parallel: gradient buckets (replicated) or the gradient partition (ZeRO)
  double activations = 0;  // kept for backward at the end of the forward
  double transient = 0;    // the working set on top of the rest at the peak
  double peak = 0;         // the predicted peak
  // Totals at each phase (checked one by one against the CPU allocator in tests/train/memory_plan_test.cpp):
  double forward_end = 0;     // held when the forward has run: static + activations, before the loss's work
  double forward_peak = 0;    // forward_end + the loss chunk's (or the top attention's) working set
  double backward_peak = 0;   // the largest over the layers' backward
  double optimizer_peak = 0;  // static + every gradient + the step's temporaries
  std::string peak_phase;  // "end of forward", "backward of layer i", "optimizer step"
  std::string table() const;  // one row per component, then the peak
  // "fits 80 GiB with 9.5 GiB to spare" / "does not fit 80 GiB (12.3 GiB over)", with `reserve` set aside for
  // the CUDA context and allocator slack.
  std::string fits(double device_bytes, double reserve_bytes) const;
};

MemoryPlan plan_memory(const MemoryPlanInputs& in);

}  // namespace vr::train
