#include "vr/model/linear.h"

#include <torch/torch.h>

namespace vr::model {

at::Tensor apply_linear(const torch::nn::Linear& layer, const at::Tensor& x) {
  at::Tensor y = layer.ptr()->forward(x);
  if (layer->children().empty()) return y;  // plain Linear
  for (const auto& child : layer->children()) {
    auto* branch = dynamic_cast<LinearBranchImpl*>(child.get());
    if (branch && branch->active()) y = y + branch->delta(x).to(y.scalar_type());
  }
  return y;
}

}  // namespace vr::model
