// `block_influence`: the layers that change their input most, BI_l = 1 − mean_t cos(h_l[t], h_{l+1}[t]) over
// all valid merged positions of the calibration samples (SPEC §6.2a; math in block_influence_score.cpp).
#include "selection/calibration.h"
#include "vr/selection/scores.h"
#include "vr/core/error.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

struct BlockInfluence : CalibrationScoredSelector {
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers;
    return select_by_scores(cfg, L, "block_influence", "block influence (1 − cos of layer input and output)", [&] {
      LayerMean acc(L);
      run_calibration(cfg, ctx, "block_influence", /*output_attentions=*/false, [&](const vr::model::LvlmOutput& o) {
        VR_CHECK(static_cast<int64_t>(o.hidden_states.size()) == L + 1,
                 "block_influence: the model returned {} hidden states for {} layers", o.hidden_states.size(), L);
        acc.add(hidden_state_cosines(o.hidden_states), o.merged_attention_mask.cpu());
      });
      std::vector<double> bi = acc.mean();
      for (double& v : bi) v = 1.0 - v;
      return bi;
    });
  }
};

SelectorRegistration registration_block_influence{"block_influence",
                         "layers that change the hidden state most (1 − cos of input and output, calibration data)",
                         [] { return std::make_unique<BlockInfluence>(); }};

}  // namespace
}  // namespace vr::selection
