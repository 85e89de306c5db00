// The data-parallel seam of the training step: gradients averaged over ranks. Per optimizer step the trainer
// calls, in this order:
//   attach(named trainable)     once, before the first step: builds buckets, registers gradient hooks, makes the
//                               trainable weights identical on every rank (broadcast from rank 0)
//   begin_micro_batch(is_last)  before each micro-batch's backward; only the last one of a step communicates
//                               (ZeRO-2: every one): its gradient hooks start each bucket's collective as soon as
//                               the bucket's last gradient is ready (overlapping the rest of backward)
//   end_micro_batch()           after the backward of each micro-batch but the last: ZeRO-2 finishes that
//                               micro-batch's reduce-scatter into the partition here; otherwise nothing
//   synchronize(params)         after the last backward: launches what is left, waits, writes the average over
//                               ranks into every .grad() (a parameter that got no gradient counts as zeros,
//                               identically on every rank)
// The single-process reducer does nothing in any of them.
//
// ZeRO (dist.shard_optimizer, sharded() true): each bucket's fp32 buffer of n elements is padded to W·s
// (s = ceil(n / W)) and rank r owns elements [r·s, (r+1)·s) of every bucket; its partition is the concatenation of
// those parts over the buckets ([shard_layout().numel]). Stage 2 (dist.zero_stage 2, the default) reduce-scatters
// every micro-batch's gradients into the fp32 partition, stage 1 only the last micro-batch's (the earlier ones
// accumulate full-size in .grad()); reduce-scatter with NCCL, all-reduce and slice with Gloo, which has no
// reduce_scatter in LibTorch 1.13. synchronize() then leaves the averaged gradient of this partition in
// gradient_shard() and every p.grad freed; the optimizer updates its partition and all_gather_parameters() writes
// the updated partitions of all ranks into every rank's parameters.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>

#include "vr/distributed/communicator.h"

namespace vr::distributed {

// ZeRO: buckets launched and not yet retired (waited for, their part added into the partition, their buffer freed)
// before a gradient hook waits for the oldest. 2: the bucket on the wire overlaps the next one's backward, as with
// DeepSpeed's double-buffered reduction. The memory plan counts the buffers with it.
constexpr int64_t kMaxBucketsInFlight = 2;

// A run of this rank's partition that lies in one parameter: partition[shard_offset, +numel) holds the
// flattened parameter `name`[param_offset, +numel).
struct ShardPiece {
  std::string name;
  int64_t param_offset = 0, numel = 0, shard_offset = 0;
};
struct ShardLayout {
  int64_t numel = 0;  // elements of this rank's partition (padding included)
  std::vector<ShardPiece> pieces;
};

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual void attach(const NamedTensors& named_trainable) {}
  virtual void begin_micro_batch(bool is_last) {}
  virtual void end_micro_batch() {}
  // ZeRO-2: .grad() never accumulates over micro-batches (each one is reduced into the fp32 partition).
  virtual bool reduces_every_micro_batch() const { return false; }
  // params: the trainable tensors; their .grad() hold this rank's gradients (averaged over micro-batches).
  virtual void synchronize(const std::vector<at::Tensor>& params) {}
  // Bytes this rank handed to the gradient collectives in the last synchronize (payload, fp32).
  virtual int64_t bytes_last_step() const { return 0; }
  // Seconds synchronize() spent waiting for communication still in flight after backward.
  virtual double wait_seconds_last_step() const { return 0; }
  // ZeRO (see above); only meaningful when sharded() (attach() must have run).
  virtual bool sharded() const { return false; }
  virtual ShardLayout shard_layout() const { return {}; }
  virtual at::Tensor gradient_shard() { return {}; }                    // [layout.numel] fp32
  virtual void all_gather_parameters(const at::Tensor& master_shard) {}  // [layout.numel] fp32
  // Collective: every rank's partition of a per-element state -> the full tensors (fp32, each parameter's
  // shape, on the CPU) in attach order, on rank 0 only (empty vector on the others).
  virtual NamedTensors gather_shards(const at::Tensor& shard) { return {}; }
  // What the plan prints ("3 buckets of <= 25 MiB, 1.20 MB per step all-reduced (fp32)").
  virtual std::string describe() const { return "single process"; }
};

std::shared_ptr<GradientReducer> make_local_gradient_reducer();

}  // namespace vr::distributed
