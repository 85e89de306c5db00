// Layer selection: which decoder layers of the LLM a selective ("visual region") run trains.
// One interface, many strategies. A strategy is one .cpp file in src/selection/ that registers itself:
//
//   class MyStrategy : public LayerSelector { SelectionResult select(const SelectionConfig&, SelectionContext&) override; };
//   static SelectorRegistration reg{"my_strategy", "one line for --help", [] { return std::make_unique<MyStrategy>(); }};
//
// Then `selection: {strategy: my_strategy}` in a run config picks it. See docs/selection.md.
// L = number of decoder layers, k = number of layers to select, layer indices are 0-based.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vr/core/config.h"

namespace vr::model {
class Lvlm;
}
namespace vr::data {
struct Batch;
}

namespace vr::selection {

// The `selection.*` keys of a run config.
struct SelectionConfig : vr::Bindable {
  std::string strategy = "uniform";
  double fraction = 0.25;            // k = round(fraction * L), halves away from zero, clamped to [1, L]
  int64_t count = 0;                 // > 0: k = count (overrides fraction)
  std::vector<int64_t> layers;       // manual: the exact list, e.g. [1, 5, 9, 13, 19, 23, 27, 31]
  std::string position = "middle";   // consecutive: first | middle | last
  int64_t seed = 0;                  // random (bit pattern used as the 64-bit generator seed)
  int64_t min_spacing = 0;           // importance strategies: picked layers at least this far apart (0, 1: off)
  std::string scores_file;           // importance strategies: reuse scores saved by `vrtrain score`
  std::string base_model, tuned_model;  // param_change: two checkpoint directories (or .safetensors files)
  std::string metric = "angular";    // param_change: frob | frob_rel | angular
  int64_t calibration_samples = 16;  // model-based strategies: samples drawn from calibration data
  int64_t angular_block = 1;         // angular: n, the block d(h_l, h_{l+n}) scores layer l (1: per layer)

  void bind(vr::ConfigBinder& b) override;
  // k for a model with L layers (see fraction / count).
  int64_t resolve_count(int64_t num_layers) const;
};

struct SelectionResult {
  std::vector<int64_t> layers;  // selected layers, sorted ascending, unique
  std::vector<double> scores;   // per layer (size L) for importance strategies; empty for heuristics
  std::string strategy;
  std::string rationale;        // one sentence: how the layers were chosen
  int64_t num_layers = 0;
  // Further per-layer series a strategy computed (NaN where undefined), e.g. triplet's s1, s2, s3; saved as "series".
  std::map<std::string, std::vector<double>> series;
  // Further named layer lists, e.g. triplet's drop / tune / anchor; saved as "layer_sets".
  std::map<std::string, std::vector<int64_t>> layer_sets;
  nlohmann::json to_json() const;
  static SelectionResult from_json(const nlohmann::json& j, const std::string& source);
};

// What a strategy may use. Heuristics need only num_layers.
struct SelectionContext {
  int64_t num_layers = 0;
  vr::model::Lvlm* model = nullptr;  // attention / block_influence: the model to run (may be null otherwise)
  // Calibration data for attention / block_influence: returns the next batch, nullopt when exhausted.
  std::function<std::optional<vr::data::Batch>()> calibration_batches;
};

class LayerSelector {
 public:
  virtual ~LayerSelector() = default;
  virtual SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) = 0;
  // Importance strategies return true: they produce per-layer scores (and can reuse a scores_file).
  virtual bool uses_scores() const { return false; }
  // Strategies that run the model on calibration data (attention, block_influence) return true: the caller
  // must fill SelectionContext::model and ::calibration_batches (unless selection.scores_file is set).
  virtual bool needs_model() const { return false; }
};

using SelectorFactory = std::function<std::unique_ptr<LayerSelector>()>;

// Registers a strategy under `name` at static-initialization time (one static object per strategy file).
struct SelectorRegistration {
  SelectorRegistration(std::string name, std::string summary, SelectorFactory make);
};

// Registered strategy names, sorted.
std::vector<std::string> strategy_names();
// One-line description of a strategy (for --help).
std::string strategy_summary(const std::string& name);
// A new instance; unknown names throw "unknown selection strategy 'x' (did you mean 'y'?; available: ...)".
std::unique_ptr<LayerSelector> make_selector(const std::string& name);

// Runs cfg.strategy and checks its result (sorted, unique, in [0, L), scores of size L or empty).
SelectionResult select_layers(const SelectionConfig& cfg, SelectionContext& ctx);

// ---- helpers shared by strategies ----------------------------------------------------------------------------

// The k layers with the highest score (ties: lower index first), greedily skipping layers closer than
// min_spacing to an already picked one (min_spacing <= 1: no constraint). Sorted ascending.
// Throws when scores hold NaN or fewer than k layers can be placed at that spacing.
std::vector<int64_t> top_k_layers(const std::vector<double>& scores, int64_t k, int64_t min_spacing);

// Scores saved by `vrtrain score` (selection.json / scores.json): checks the strategy and the layer count
// (num_layers 0: any) and returns the per-layer scores.
std::vector<double> load_saved_scores(const std::string& file, const std::string& strategy, int64_t num_layers);

// For importance strategies: when cfg.scores_file is set, reuse its scores, else compute(). Then picks the
// top-k layers (with cfg.min_spacing) and fills the result.
SelectionResult select_by_scores(const SelectionConfig& cfg, int64_t num_layers, const std::string& strategy,
                                 const std::string& what, const std::function<std::vector<double>()>& compute);

}  // namespace vr::selection
