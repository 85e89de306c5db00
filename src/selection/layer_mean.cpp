// LayerMean: per-layer running mean in float64, pooled over every masked entry added, NaN skipped.
#include <cmath>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection {

void LayerMean::add(const at::Tensor& values, const at::Tensor& mask) {
  VR_CHECK(values.dim() >= 1 && values.size(0) == static_cast<int64_t>(sum.size()),
           "LayerMean: values have {} layers, expected {}", values.dim() ? values.size(0) : 0, sum.size());
  for (int64_t l = 0; l < values.size(0); ++l) {
    at::Tensor v = values[l].to(at::kDouble);
    at::Tensor take = mask.to(at::kBool).to(v.device()).expand_as(v) & ~v.isnan();
    sum[l] += v.masked_select(take).sum().item<double>();
    count[l] += take.sum().item<int64_t>();
  }
}

std::vector<double> LayerMean::mean() const {
  std::vector<double> m(sum.size());
  for (size_t l = 0; l < sum.size(); ++l) m[l] = count[l] > 0 ? sum[l] / static_cast<double>(count[l]) : NAN;
  return m;
}

}  // namespace vr::selection
