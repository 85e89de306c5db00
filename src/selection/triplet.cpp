// `triplet` (INTERLACE, arXiv 2511.19676): tunes the layers INTERLACE fine-tunes. With k = the selection count,
// the k most similar free triplets (i, i+1, i+2) by s_3(i) are taken; in each, the more redundant of the first two
// layers is marked "drop", the other "tune" (selected), the third "anchor" (frozen). Selection prunes nothing: the
// drop list is reported (layer_sets.drop) for `vrtrain prune --method triplet`, which removes it.
// Scores (for the table and chart, higher = more important, like every importance strategy):
// score_i = 1 − s_3(i), the change across the triplet starting at i (NaN for i > L − 4). s1, s2, s3 are saved as
// series; scores_file reuse reads them back. Math in triplet_score.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "selection/calibration.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

TripletSimilarity saved_similarity(const std::string& file, int64_t L) {
  SelectionResult saved = SelectionResult::from_json(vr::read_json_file(file), file);
  VR_CHECK(saved.strategy == "triplet", "selection.scores_file '{}' holds '{}' scores, but the strategy is 'triplet'",
           file, saved.strategy);
  VR_CHECK(saved.num_layers == L, "selection.scores_file '{}' has scores for {} layers, but the model has {}", file,
           saved.num_layers, L);
  for (const char* k : {"s1", "s2", "s3"})
    VR_CHECK(saved.series.count(k) && static_cast<int64_t>(saved.series[k].size()) == L,
             "selection.scores_file '{}': no series '{}' of {} values", file, k, L);
  return TripletSimilarity{saved.series["s1"], saved.series["s2"], saved.series["s3"]};
}

struct Triplet : CalibrationScoredSelector {
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers, k = cfg.resolve_count(L);
    TripletSimilarity s;
    std::string origin;
    if (!cfg.scores_file.empty()) {
      s = saved_similarity(cfg.scores_file, L);
      origin = fmt::format(" (scores reused from {})", cfg.scores_file);
    } else {
      TripletAccumulator acc(L);
      run_calibration(cfg, ctx, "triplet", /*output_attentions=*/false, [&](const vr::model::LvlmOutput& o) {
        acc.add(o.hidden_states, o.merged_attention_mask);
      });
      s = acc.similarity();
    }
    const TripletPlan plan = interlace_assignment(s, k);
    SelectionResult r;
    r.layers = plan.tune;
    for (int64_t i = 0; i < L; ++i) r.scores.push_back(1.0 - s.s3[i]);
    r.series = {{"s1", s.s1}, {"s2", s.s2}, {"s3", s.s3}};
    r.layer_sets = {{"drop", plan.drop}, {"tune", plan.tune}, {"anchor", plan.anchor}};
    r.rationale = fmt::format("INTERLACE: in the {} most similar layer triplets, the layers to fine-tune [{}] (drop "
                              "candidates [{}], frozen anchors [{}]){}",
                              k, fmt::join(plan.tune, ", "), fmt::join(plan.drop, ", "), fmt::join(plan.anchor, ", "),
                              origin);
    return r;
  }
};

SelectorRegistration registration_triplet{
    "triplet", "INTERLACE: in the most similar layer triplets, the layer that compensates for a dropped neighbour",
    [] { return std::make_unique<Triplet>(); }};

}  // namespace
}  // namespace vr::selection
