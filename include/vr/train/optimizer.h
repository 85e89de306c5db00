// AdamW with parameter groups (Loshchilov & Hutter, decoupled weight decay), the update of torch.optim.AdamW:
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε)
// Each group has its own peak lr and weight decay; the schedule multiplies every group's peak lr by one factor.
// Mixed precision: a parameter stored in bf16/fp16 gets an fp32 master copy; the update runs on the master and is
// rounded into the parameter, so small updates are not lost to bf16 rounding. fp32 parameters are their own master.
//
// Sharded (ZeRO, dist.shard_optimizer with W > 1 ranks; the GradientReducer given is sharded()): this
// rank keeps only its partition of the trainable parameters (GradientReducer::shard_layout(): ~1/W of the
// elements) as three flat fp32 tensors (master, exp_avg, exp_avg_sq) and updates it from
// GradientReducer::gradient_shard() with the same element-wise operations as above, piece by piece with each
// piece's group lr / weight decay; then the reducer all-gathers the updated partitions into every rank's
// parameters. Per-rank state: 12 bytes x N / W (unsharded: 8 bytes x N, +4 for bf16 masters). The partition is
// created on first use, after GradientReducer::attach() (the trainer attaches before the first step). state_dict() is then collective (every
// rank must call it; rank 0 gets the gathered full state, the others an empty map) and holds exactly the tensors
// of the unsharded optimizer, so a checkpoint resumes on any world size, sharded or not; load_state_dict() keeps
// the full tensors (as loaded, on the CPU) until the partition is created and copies this rank's part.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <memory>

#include <ATen/Tensor.h>

namespace vr::distributed {
class Communicator;
class GradientReducer;
}

namespace vr::train {

struct ParamGroup {
  std::string name;        // "projector", "llm", "llm_no_decay", ...
  double lr = 0;           // peak learning rate
  double weight_decay = 0;
  std::vector<std::string> names;   // parameter names, parallel to params
  std::vector<at::Tensor> params;   // the model's tensors (requires_grad)
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW {
 public:
  // Sharded over the ranks of `comm` when reducer->sharded() and there are several (see above); the clip norm is
  // then summed over ranks through `comm`. Null or unsharded: plain AdamW.
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {},
        std::shared_ptr<distributed::GradientReducer> reducer = nullptr,
        std::shared_ptr<distributed::Communicator> comm = nullptr);

  // One update of every parameter that has a gradient; group g uses lr = groups[g].lr · lr_scale.
  void step(double lr_scale);
  void zero_grad();  // drops gradients (sets them undefined: no memory held between steps)

  const std::vector<ParamGroup>& groups() const { return groups_; }
  int64_t step_count() const { return step_; }
  int64_t num_state_elements();  // this rank's elements of exp_avg + exp_avg_sq + master copies
  bool sharded() const { return reducer_ != nullptr; }

  // Gradient clipping and scaling over every group's gradients; sharded: over the partitions of all ranks (the
  // norm is reduced across ranks, so every rank clips alike). clip: see clip_grad_norm below.
  double clip_grad_norm(double max_norm);
  void scale_gradients(double factor);

  // Resumable state: "exp_avg.<name>", "exp_avg_sq.<name>", "master.<name>" (fp32) and "step" (int64 scalar).
  std::map<std::string, at::Tensor> state_dict();
  // Restores state_dict() output; throws vr::Error naming a missing or mis-shaped tensor. Masters are copied
  // into the parameters so the model holds exactly the resumed weights. `copied(key)`, when given, is called
  // once a tensor of `state` has been copied and will not be read again (a streaming load releases its pages:
  // TrainCheckpoint::release_optimizer); sharded, that is after this rank's part was taken.
  using CopiedFn = std::function<void(const std::string& key)>;
  void load_state_dict(const std::map<std::string, at::Tensor>& state, const CopiedFn& copied = nullptr);

 private:
  struct Slot {
    std::string name;
    at::Tensor param, master, exp_avg, exp_avg_sq;  // master aliases param for fp32 parameters
  };
  // A run of the partition inside one parameter (distributed::ShardPiece) with its group's lr / decay.
  struct Piece {
    size_t group;
    int64_t shard_offset, numel;
  };
  void ensure_partition();
  void sharded_step(double lr_scale);

  std::vector<ParamGroup> groups_;
  std::vector<std::vector<Slot>> slots_;  // [group][param] (unsharded)
  AdamWOptions options_;
  int64_t step_ = 0;
  // Sharded state.
  std::shared_ptr<distributed::GradientReducer> reducer_;
  std::shared_ptr<distributed::Communicator> comm_;
  bool partitioned_ = false;
  std::vector<Piece> pieces_;
  at::Tensor master_, exp_avg_, exp_avg_sq_;       // [partition] fp32
  std::map<std::string, at::Tensor> pending_;     // load_state_dict() before the partition exists
  CopiedFn pending_copied_;                        // its `copied`, called once the partition took its parts
};

// Parameters whose name marks a norm weight or a bias: they get no weight decay (HF Trainer's rule).
bool is_no_decay_param(const std::string& name, int64_t dim);

// L2 norm over all given gradients; when max_norm > 0 and the norm exceeds it, scales the gradients by
// max_norm / (norm + 1e-6) like torch.nn.utils.clip_grad_norm_. Returns the norm before clipping.
// The squares are summed in fp64 (torch: fp32 norms of the norms), so the norm does not depend on how the
// gradients are cut: a ZeRO partition's pieces give the same clip factor, in fp32, as whole tensors do, and
// sharded training stays bit-identical to unsharded (the fp32 sums differed in the last bit: 1.3e-5 of the
// training delta after 3 steps).
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

// Σ x² of a gradient in fp64, a 0-dim fp64 tensor on x's device; in chunks, so no full-size fp64 copy is made.
at::Tensor squared_sum_fp64(const at::Tensor& x);
// The factor clipping multiplies the gradients by (1 when max_norm is 0, the norm is within it or not finite),
// rounded to fp32 as the gradients are: every way of cutting the gradients applies the same factor.
double clip_factor(double norm, double max_norm);

}  // namespace vr::train
