// `attention`: the layers whose text tokens attend most to the image — mean attention mass on image slots from
// the text queries after the image, over heads and calibration samples (SPEC §6.2d; math in attention_score.cpp).
#include "selection/calibration.h"
#include "vr/selection/scores.h"
#include "vr/core/error.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

struct Attention : CalibrationScoredSelector {
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers;
    return select_by_scores(cfg, L, "attention", "attention mass on image tokens", [&] {
      LayerMean acc(L);
      run_calibration(cfg, ctx, "attention", /*output_attentions=*/true, [&](const vr::model::LvlmOutput& o) {
        VR_CHECK(static_cast<int64_t>(o.attentions.size()) == L,
                 "attention: the model returned {} attention maps for {} layers", o.attentions.size(), L);
        accumulate_attention_mass(o.attentions, o.image_token_mask, o.merged_attention_mask, acc);
      });
      return acc.mean();  // NaN for a layer only if no sample had text after an image (top-k then explains)
    });
  }
};

SelectorRegistration registration_attention{"attention", "layers whose text attends most to the image tokens (calibration data)",
                         [] { return std::make_unique<Attention>(); }};

}  // namespace
}  // namespace vr::selection
