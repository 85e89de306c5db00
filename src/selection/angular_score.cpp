// Angular distance between hidden states (Gromov et al., "The Unreasonable Ineffectiveness of the Deeper Layers",
// arXiv 2403.17887): d(h_l, h_{l+n}) = arccos(cos(h_l, h_{l+n})) / π, the angle (as a share of π) by which a block
// of n layers turns a token's residual stream. 0 = the block leaves every token's direction unchanged (a pruning
// candidate), 1 = it reverses it. Averaged over the same tokens as block influence (valid merged positions).
#include <cmath>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"
#include "vr/selection/scores.h"

namespace vr::selection {
namespace {

// cos(x, y) along the last axis in float64, no epsilon: [B, M, D] x2 → [B, M].
at::Tensor token_cosines(const at::Tensor& a, const at::Tensor& b, int64_t l, int64_t end) {
  VR_CHECK(a.dim() == 3 && a.sizes() == b.sizes(), "hidden states {} ({}) and {} ({}) do not match", l,
           vr::shape_string(a.sizes()), end, vr::shape_string(b.sizes()));
  at::Tensor x = a.detach().to(at::kDouble), y = b.detach().to(at::kDouble);
  return ((x * y).sum(-1) / (x.norm(2, -1) * y.norm(2, -1))).cpu();
}

}  // namespace

at::Tensor hidden_state_cosines_at_distance(const std::vector<at::Tensor>& hidden_states, int64_t n) {
  const int64_t L = static_cast<int64_t>(hidden_states.size()) - 1;
  VR_CHECK(n >= 1 && n <= L, "layer distance n = {} must be in 1..{} (L = {} layers)", n, L, L);
  std::vector<at::Tensor> cos;
  for (int64_t l = 0; l + n <= L; ++l) cos.push_back(token_cosines(hidden_states[l], hidden_states[l + n], l, l + n));
  return at::stack(cos);  // [L + 1 − n, B, M]
}

at::Tensor angular_distances(const std::vector<at::Tensor>& hidden_states, int64_t n) {
  const int64_t L = static_cast<int64_t>(hidden_states.size()) - 1;
  VR_CHECK(L >= 1 && n >= 1 && n <= L, "angular distance: block size n = {} must be in 1..{} (L = {} layers)", n, L, L);
  std::vector<at::Tensor> d;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t end = std::min(l + n, L);
    // clamp: float64 round-off can put |cos| a few ulp above 1 for (nearly) parallel vectors; NaN stays NaN.
    d.push_back(at::arccos(token_cosines(hidden_states[l], hidden_states[end], l, end).clamp(-1.0, 1.0)) / M_PI);
  }
  return at::stack(d);  // [L, B, M]
}

std::vector<double> masked_layer_mean(const at::Tensor& values, const at::Tensor& mask) {
  VR_CHECK(values.dim() == 3 && mask.sizes() == values.sizes().slice(1), "values {} and mask {} do not match "
           "([L, B, M] and [B, M])", vr::shape_string(values.sizes()), vr::shape_string(mask.sizes()));
  LayerMean acc(values.size(0));
  acc.add(values, mask.cpu());
  return acc.mean();
}

}  // namespace vr::selection
