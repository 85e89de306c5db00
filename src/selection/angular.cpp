// `angular`: the layers (blocks) that turn the hidden state most, by the angular distance of Gromov et al.
// (arXiv 2403.17887), score_l = mean_t arccos(cos(h_l[t], h_{l+n}[t])) / π over all valid merged positions of the
// calibration samples, n = selection.angular_block (math in angular_score.cpp). Like block influence, a high
// distance = the layer changes its input a lot = important = selected; the lowest are pruning candidates.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "selection/calibration.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

struct Angular : CalibrationScoredSelector {
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers, n = cfg.angular_block;
    VR_CHECK(n >= 1 && n <= L, "selection.angular_block = {} must be in 1..{} (the model has {} layers)", n, L, L);
    if (!cfg.scores_file.empty()) {  // saved scores are only comparable for the same block size
      const nlohmann::json saved = vr::read_json_file(cfg.scores_file);
      const int64_t saved_n = saved.value("angular_block", int64_t{1});
      VR_CHECK(saved_n == n, "selection.scores_file '{}' holds angular distances of blocks of {} layers, but "
               "selection.angular_block is {}", cfg.scores_file, saved_n, n);
    }
    const std::string what = n == 1 ? "angular distance between layer input and output"
                                    : fmt::format("angular distance across the block of {} layers starting there", n);
    return select_by_scores(cfg, L, "angular", what, [&] {
      LayerMean acc(L);
      run_calibration(cfg, ctx, "angular", /*output_attentions=*/false, [&](const vr::model::LvlmOutput& o) {
        VR_CHECK(static_cast<int64_t>(o.hidden_states.size()) == L + 1,
                 "angular: the model returned {} hidden states for {} layers", o.hidden_states.size(), L);
        acc.add(angular_distances(o.hidden_states, n), o.merged_attention_mask.cpu());
      });
      return acc.mean();
    });
  }
};

SelectorRegistration registration_angular{
    "angular",
    "layers (or blocks of selection.angular_block layers) that turn the hidden state most (calibration data)",
    [] { return std::make_unique<Angular>(); }};

}  // namespace
}  // namespace vr::selection
