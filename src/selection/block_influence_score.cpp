// Block influence (ShortGPT; SPEC §6.2a, fixtures README "layer_scores"): how much a decoder layer turns its
// input hidden state, BI_l = 1 − mean_t cos(h_l[t], h_{l+1}[t]). High BI = the layer changes the residual
// stream a lot = important; low BI = near-identity (a pruning candidate).
#include <ATen/ATen.h>

#include "vr/core/shape_string.h"
#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection {

at::Tensor hidden_state_cosines(const std::vector<at::Tensor>& hidden_states, const at::Tensor& last_layer_prenorm) {
  VR_CHECK(hidden_states.size() >= 2, "block influence: need L + 1 >= 2 hidden states, got {}", hidden_states.size());
  const int64_t L = static_cast<int64_t>(hidden_states.size()) - 1;
  std::vector<at::Tensor> cos(L);
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor& next = (l == L - 1 && last_layer_prenorm.defined()) ? last_layer_prenorm : hidden_states[l + 1];
    VR_CHECK(hidden_states[l].dim() == 3 && hidden_states[l].sizes() == next.sizes(),
             "block influence: hidden state {} has shape {} but its successor {}", l, vr::shape_string(hidden_states[l].sizes()),
             vr::shape_string(next.sizes()));
    at::Tensor x = hidden_states[l].detach().to(at::kDouble), y = next.detach().to(at::kDouble);  // [B, M, D]
    // No epsilon: a zero vector gives NaN, which the means skip (fixture definition).
    cos[l] = (x * y).sum(-1) / (x.norm(2, -1) * y.norm(2, -1));  // [B, M]
  }
  return at::stack(cos).cpu();  // [L, B, M]
}

std::vector<double> block_influence(const at::Tensor& cosines, const at::Tensor& mask) {
  VR_CHECK(cosines.dim() == 3 && mask.sizes() == cosines.sizes().slice(1),
           "block influence: cosines {} and mask {} do not match ([L, B, M] and [B, M])", vr::shape_string(cosines.sizes()),
           vr::shape_string(mask.sizes()));
  LayerMean acc(cosines.size(0));
  acc.add(cosines, mask.cpu());
  std::vector<double> bi = acc.mean();
  for (double& v : bi) v = 1.0 - v;
  return bi;
}

at::Tensor block_influence_per_row(const at::Tensor& cosines, const at::Tensor& mask) {
  const int64_t L = cosines.size(0), B = cosines.size(1);
  at::Tensor out = at::empty({B, L}, at::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> bi = block_influence(cosines.select(1, b).unsqueeze(1), mask[b].unsqueeze(0));
    for (int64_t l = 0; l < L; ++l) out[b][l] = bi[l];
  }
  return out;
}

}  // namespace vr::selection
