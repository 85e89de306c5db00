// `param_change`: the layers whose projection weights changed most between selection.base_model and
// selection.tuned_model (e.g. the base LLM and a fully tuned LVLM), by selection.metric. Producing the tuned
// checkpoint with a short probe run is the trainer's job; this strategy only compares two checkpoints.
#include <fmt/format.h>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

class ParamChangeSelector : public LayerSelector {
 public:
  bool uses_scores() const override { return true; }
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    return select_by_scores(cfg, ctx.num_layers, "param_change", fmt::format("{} weight change", cfg.metric), [&] {
      VR_CHECK(!cfg.base_model.empty() && !cfg.tuned_model.empty(),
               "selection.strategy 'param_change' needs selection.base_model and selection.tuned_model "
               "(two checkpoint directories), or selection.scores_file");
      StateDict base = vr::load_tensors(cfg.base_model);
      StateDict tuned = vr::load_tensors(cfg.tuned_model);
      ParamChange pc = param_change(base, tuned, cfg.base_model, cfg.tuned_model);
      std::vector<double> scores = pc.layer_scores(cfg.metric);
      VR_CHECK(static_cast<int64_t>(scores.size()) == ctx.num_layers,
               "param_change: the checkpoints have {} decoder layers, the model {}", scores.size(), ctx.num_layers);
      return scores;
    });
  }
};

SelectorRegistration registration_param_change{"param_change",
                         "layers whose weights changed most between two checkpoints (selection.metric)",
                         [] { return std::make_unique<ParamChangeSelector>(); }};

}  // namespace
}  // namespace vr::selection
