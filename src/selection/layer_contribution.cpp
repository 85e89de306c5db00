// `layer_contribution` (ShortV, arXiv 2504.00502): for each decoder layer i, run the calibration samples once more
// with layer i leaving the image tokens' hidden states unchanged (LvlmInputs::freeze_image_tokens_in_layer) and
// measure how far the next-token distributions move, LC_i = mean KL(P_M ‖ P_{M_i^V}) over the positions the loss
// reads (math in layer_contribution_score.cpp). L + 1 forward passes per batch. High LC = the layer's work on the
// image matters = selected.
#include <ATen/ATen.h>

#include "selection/calibration.h"
#include "vr/core/error.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

struct LayerContribution : CalibrationScoredSelector {
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers;
    const std::string what = "KL change of the output when the layer skips image tokens";
    return select_by_scores(cfg, L, "layer_contribution", what, [&] {
      LayerMean acc(L);
      auto visit = [&](vr::model::LvlmImpl& model, vr::model::LvlmInputs& in) {
        const vr::model::LvlmOutput ref = model.forward(in);  // M: the unmodified model
        const at::Tensor where =
            contribution_positions(ref.merged_labels, ref.merged_attention_mask, ref.image_token_mask);
        std::vector<at::Tensor> kl;  // L × [B, M]
        for (int64_t i = 0; i < L; ++i) {
          in.freeze_image_tokens_in_layer = i;  // M_i^V
          kl.push_back(kl_divergence_per_position(ref.logits, model.forward(in).logits));
        }
        in.freeze_image_tokens_in_layer = -1;
        acc.add(at::stack(kl), where);
      };
      for_each_calibration_batch(cfg, ctx, "layer_contribution", visit);
      return acc.mean();
    });
  }
};

SelectorRegistration registration_layer_contribution{
    "layer_contribution",
    "layers whose processing of the image tokens changes the output most (ShortV KL, calibration data)",
    [] { return std::make_unique<LayerContribution>(); }};

}  // namespace
}  // namespace vr::selection
