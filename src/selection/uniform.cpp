// `uniform`: sparse, evenly spaced layers — the paper's "visual region" (SPEC §6.1).
//
// Rule: place k points evenly on [1, L−1] (layer 0, which sees raw embeddings, is skipped as in the official
// default; the last layer is always included):
//     x_i = 1 + i·(L − 2)/(k − 1),   i = 0..k−1
// and round each point outward, away from the centre of the stack: floor in the lower half, ceil in the upper
// half, floor for the middle point when k is odd. The picks are thus mirror images of each other under
// l → L − l (layer 1 ↔ layer L−1), and the uneven gap lands in the middle.
//     L = 32, k = 8: x = 1, 5.29, 9.57, 13.86 | 18.14, 22.43, 26.71, 31 → {1,5,9,13,19,23,27,31}
// which is exactly the official `--layer_selection` default (spacings 4,4,4,6,4,4,4).
// Special cases: k = 1 → {floor(L/2)}; k ≥ L → every layer; L = 1 → {0}.
#include <cmath>

#include <fmt/format.h>

#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

std::vector<int64_t> uniform_layers(int64_t L, int64_t k) {
  std::vector<int64_t> out;
  if (k >= L) {
    for (int64_t l = 0; l < L; ++l) out.push_back(l);
    return out;
  }
  if (k == 1) return {L / 2};
  // Spacing (L − 2)/(k − 1) >= 1 because k <= L − 1, so the rounded picks are distinct.
  for (int64_t i = 0; i < k; ++i) {
    // x_i − 1 = num/den as an exact fraction, so no float error can flip a rounding.
    const int64_t num = i * (L - 2), den = k - 1;
    const bool upper_half = 2 * i > k - 1;
    const int64_t rounded = num / den + ((upper_half && num % den != 0) ? 1 : 0);  // ceil above the middle
    out.push_back(1 + rounded);
  }
  return out;
}

class Uniform : public LayerSelector {
 public:
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers, k = cfg.resolve_count(L);
    SelectionResult r;
    r.layers = uniform_layers(L, k);
    r.rationale = fmt::format("{} of {} layers evenly spaced over layers 1..{}, rounded away from the middle", k, L,
                              L - 1);
    return r;
  }
};

SelectorRegistration registration_uniform{"uniform", "sparse, evenly spaced layers (paper default: 1,5,9,13,19,23,27,31 of 32)",
                         [] { return std::make_unique<Uniform>(); }};

}  // namespace
}  // namespace vr::selection
