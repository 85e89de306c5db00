// The data-parallel seam of the training step. The trainer calls GradientSync::synchronize exactly once per
// optimizer step, after the last micro-batch's backward and before clipping and the optimizer update: the one
// point where every trainable gradient is complete. A data-parallel backend averages them over ranks there;
// the single-process implementation does nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/Tensor.h>

namespace vr::dist {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  // params: the trainable tensors; their .grad() hold this rank's gradients (averaged over micro-batches).
  virtual void synchronize(const std::vector<at::Tensor>& params) = 0;
};

// rank 0 of 1: gradients are already complete.
class SingleProcessSync final : public GradientSync {
 public:
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 1; }
  void synchronize(const std::vector<at::Tensor>& params) override {}
};

std::unique_ptr<GradientSync> make_single_process_sync();

}  // namespace vr::dist
