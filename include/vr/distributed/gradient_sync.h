// The data-parallel seam of the training step. Per optimizer step the trainer calls, in this order:
//   attach(named trainable)           once, before the first step: builds buckets, registers gradient hooks,
//                                     makes the trainable weights identical on every rank (broadcast from rank 0)
//   begin_micro_batch(is_last)        before each micro-batch's backward; only the last one of a step
//                                     communicates: its gradient hooks start each bucket's all-reduce as soon as
//                                     the bucket's last gradient is ready (overlapping the rest of backward)
//   synchronize(params)               after the last backward: launches what is left, waits, writes the average
//                                     over ranks into every .grad() (a parameter that got no gradient counts as
//                                     zeros, identically on every rank)
//   all_reduce_sum(values)            small per-step scalars (non-finite flag, supervised tokens, loss sum)
// The single-process implementation does nothing in any of them.
//
// ZeRO stage 1/2 (dist.shard_optimizer, sharded() true): each bucket's fp32 buffer of n elements is padded to
// W·s (s = ceil(n / W)) and rank r owns elements [r·s, (r+1)·s) of every bucket; its partition is the
// concatenation of those parts over the buckets ([shard_layout().numel]). synchronize() then leaves the averaged
// gradient of this partition in gradient_shard() (reduce-scatter with NCCL; all-reduce and slice with Gloo, which
// has no reduce_scatter in LibTorch 1.13) and frees every p.grad; the optimizer updates its partition and
// all_gather_parameters() writes the updated partitions of all ranks into every rank's parameters.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>

namespace vr::distributed {

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

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  virtual void attach(const std::vector<std::pair<std::string, at::Tensor>>& named_trainable) {}
  virtual void begin_micro_batch(bool is_last) {}
  // params: the trainable tensors; their .grad() hold this rank's gradients (averaged over micro-batches).
  virtual void synchronize(const std::vector<at::Tensor>& params) = 0;
  virtual std::vector<double> all_reduce_sum(std::vector<double> values) { return values; }
  // Rank 0's `text` on every rank (the others' argument is ignored); for results computed once, such as a
  // model-driven layer selection. `what` names it in a timeout message. May run before attach().
  virtual std::string broadcast_text(const std::string& text, const std::string& what) { return text; }
  // Throws vr::Error naming the first tensor that differs between ranks. `bitwise`: a hash of the bytes
  // (exact; copies to the CPU), else the fp64 sum of each tensor (cheap, catches different files or selections).
  // Returns how many tensors were compared (0 single process).
  virtual int64_t verify_identical(const std::vector<std::pair<std::string, at::Tensor>>& named, bool bitwise,
                                   const std::string& when) {
    return 0;
  }
  // Bytes this rank handed to all-reduce in the last synchronize (gradient payload, fp32).
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
  virtual std::vector<std::pair<std::string, at::Tensor>> gather_shards(const at::Tensor& shard) { return {}; }
  // What the plan prints ("gloo, 2 ranks, 3 buckets of <= 25 MiB ...").
  virtual std::string describe() const { return "single process"; }
};

// rank 0 of 1: gradients are already complete.
class SingleProcessSync final : public GradientSync {
 public:
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 1; }
  void synchronize(const std::vector<at::Tensor>& params) override {}
};

std::unique_ptr<GradientSync> make_single_process_sync();

}  // namespace vr::distributed
