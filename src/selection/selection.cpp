// The selection config, the strategy registry, and the checks every strategy's result passes.
#include "vr/selection/selection.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"

namespace vr::selection {

void SelectionConfig::bind(vr::ConfigBinder& b) {
  b.field("selection.strategy", strategy,
          "layer-selection strategy: uniform | consecutive | manual | random | attention | param_change | "
          "block_influence | angular | layer_contribution | triplet (see docs/selection.md)");
  b.field("selection.fraction", fraction, "fraction of decoder layers to tune: k = round(fraction * L)");
  b.field("selection.count", count, "number of layers k (> 0 overrides fraction)");
  b.field("selection.layers", layers,
          "manual: 0-based layer indices, e.g. [1, 5, 9, 13, 19, 23, 27, 31]; a list given without a strategy "
          "selects manual");
  b.choice("selection.position", position, {"first", "middle", "last"}, "consecutive: where the block sits");
  b.field("selection.seed", seed, "random: seed of the draw (same seed, same layers)");
  b.field("selection.min_spacing", min_spacing,
          "importance strategies: selected layers at least this many indices apart (0: no constraint)");
  b.field("selection.scores_file", scores_file,
          "importance strategies: reuse per-layer scores from this file (selection.json of `vrtrain score`)");
  b.field("selection.base_model", base_model, "param_change: base checkpoint (e.g. the LLM before tuning)");
  b.field("selection.tuned_model", tuned_model, "param_change: tuned checkpoint (e.g. a fully tuned LVLM)");
  b.choice("selection.metric", metric, {"frob", "frob_rel", "angular"},
           "param_change: per-matrix distance summed over the 7 projections of a layer");
  b.field("selection.calibration_samples", calibration_samples,
          "attention / block_influence / angular / layer_contribution / triplet: calibration samples to run "
          "through the model");
  b.field("selection.angular_block", angular_block,
          "angular: block size n; layer l is scored by the angular distance d(h_l, h_{l+n}) (1: per layer)");
}

int64_t SelectionConfig::resolve_count(int64_t num_layers) const {
  VR_CHECK(num_layers > 0, "layer selection: the model has {} decoder layers", num_layers);
  int64_t k = count;
  if (k <= 0) {
    VR_CHECK(fraction > 0 && fraction <= 1, "selection.fraction must be in (0, 1], got {}", fraction);
    k = static_cast<int64_t>(std::llround(fraction * static_cast<double>(num_layers)));  // 0.5 rounds up
  }
  VR_CHECK(count <= num_layers, "selection.count = {} but the model has only {} decoder layers", count, num_layers);
  return std::clamp<int64_t>(k, 1, num_layers);
}

// ---- result <-> JSON ---------------------------------------------------------------------------------------

nlohmann::json SelectionResult::to_json() const {
  nlohmann::json j;
  j["strategy"] = strategy;
  j["num_layers"] = num_layers;
  j["layers"] = layers;
  j["rationale"] = rationale;
  // NaN is not JSON; write null for a layer without a score.
  nlohmann::json s = nlohmann::json::array();
  for (double v : scores) s.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json());
  j["scores"] = s;
  auto json_values = [](const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json());
    return a;
  };
  for (const auto& [name, values] : series) j["series"][name] = json_values(values);
  for (const auto& [name, list] : layer_sets) j["layer_sets"][name] = list;
  return j;
}

SelectionResult SelectionResult::from_json(const nlohmann::json& j, const std::string& source) {
  SelectionResult r;
  try {
    r.strategy = j.at("strategy").get<std::string>();
    r.num_layers = j.at("num_layers").get<int64_t>();
    r.layers = j.at("layers").get<std::vector<int64_t>>();
    if (j.contains("rationale")) r.rationale = j["rationale"].get<std::string>();
    if (j.contains("scores"))
      for (const auto& v : j["scores"]) r.scores.push_back(v.is_null() ? NAN : v.get<double>());
    if (j.contains("series"))
      for (const auto& [name, values] : j["series"].items())
        for (const auto& v : values) r.series[name].push_back(v.is_null() ? NAN : v.get<double>());
    if (j.contains("layer_sets"))
      for (const auto& [name, list] : j["layer_sets"].items()) r.layer_sets[name] = list.get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("{}: not a layer-selection file ({})", source, e.what());
  }
  return r;
}

// ---- registry ---------------------------------------------------------------------------------------------

namespace {
struct Entry {
  std::string summary;
  SelectorFactory make;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;  // constructed on first use, so safe from other static initializers
  return r;
}
}  // namespace

SelectorRegistration::SelectorRegistration(std::string name, std::string summary, SelectorFactory make) {
  registry()[std::move(name)] = Entry{std::move(summary), std::move(make)};
}

std::vector<std::string> strategy_names() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : registry()) names.push_back(name);
  return names;
}

std::string strategy_summary(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? std::string() : it->second.summary;
}

std::unique_ptr<LayerSelector> make_selector(const std::string& name) {
  auto it = registry().find(name);
  if (it != registry().end()) return it->second.make();
  auto names = strategy_names();
  std::string hint = vr::closest_match(name, names);
  VR_FAIL("unknown selection strategy '{}' ({}available: {})", name,
          hint.empty() ? "" : fmt::format("did you mean '{}'?; ", hint), fmt::join(names, ", "));
}

SelectionResult select_layers(const SelectionConfig& cfg, SelectionContext& ctx) {
  VR_CHECK(ctx.num_layers > 0, "layer selection '{}': the model has {} decoder layers", cfg.strategy, ctx.num_layers);
  SelectionResult r = make_selector(cfg.strategy)->select(cfg, ctx);
  r.strategy = cfg.strategy;
  r.num_layers = ctx.num_layers;
  VR_CHECK(!r.layers.empty(), "layer selection '{}' selected no layer", cfg.strategy);
  VR_CHECK(std::is_sorted(r.layers.begin(), r.layers.end()) &&
               std::adjacent_find(r.layers.begin(), r.layers.end()) == r.layers.end(),
           "layer selection '{}' returned an unsorted or repeated list [{}]", cfg.strategy, fmt::join(r.layers, ", "));
  VR_CHECK(r.layers.front() >= 0 && r.layers.back() < ctx.num_layers,
           "layer selection '{}' returned [{}], outside 0..{}", cfg.strategy, fmt::join(r.layers, ", "),
           ctx.num_layers - 1);
  VR_CHECK(r.scores.empty() || static_cast<int64_t>(r.scores.size()) == ctx.num_layers,
           "layer selection '{}' returned {} scores for {} layers", cfg.strategy, r.scores.size(), ctx.num_layers);
  return r;
}

// ---- helpers for importance strategies ----------------------------------------------------------------------

std::vector<int64_t> top_k_layers(const std::vector<double>& scores, int64_t k, int64_t min_spacing) {
  const int64_t L = static_cast<int64_t>(scores.size());
  VR_CHECK(k >= 1 && k <= L, "cannot select {} of {} layers", k, L);
  for (int64_t l = 0; l < L; ++l)
    VR_CHECK(!std::isnan(scores[l]), "layer {} has no score (NaN); cannot rank layers", l);
  std::vector<int64_t> order(L);
  std::iota(order.begin(), order.end(), 0);
  // Highest score first; equal scores keep index order (stable sort).
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  std::vector<int64_t> picked;
  for (int64_t l : order) {
    if (static_cast<int64_t>(picked.size()) == k) break;
    bool far_enough = std::all_of(picked.begin(), picked.end(), [&](int64_t p) { return std::abs(p - l) >= min_spacing; });
    if (far_enough) picked.push_back(l);
  }
  VR_CHECK(static_cast<int64_t>(picked.size()) == k,
           "selection.min_spacing = {}: only {} of the requested {} layers can be placed among {} layers by "
           "descending score; lower min_spacing or the count",
           min_spacing, picked.size(), k, L);
  std::sort(picked.begin(), picked.end());
  return picked;
}

std::vector<double> load_saved_scores(const std::string& file, const std::string& strategy, int64_t num_layers) {
  std::ifstream in(file);
  VR_CHECK(in, "selection.scores_file '{}': cannot open", file);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("selection.scores_file '{}': invalid JSON ({})", file, e.what());
  }
  SelectionResult saved = SelectionResult::from_json(j, file);
  VR_CHECK(saved.strategy == strategy, "selection.scores_file '{}' holds '{}' scores, but the strategy is '{}'", file,
           saved.strategy, strategy);
  VR_CHECK(static_cast<int64_t>(saved.scores.size()) == saved.num_layers && saved.num_layers > 0,
           "selection.scores_file '{}': {} scores for num_layers = {}", file, saved.scores.size(), saved.num_layers);
  VR_CHECK(num_layers == 0 || saved.num_layers == num_layers,
           "selection.scores_file '{}' has scores for {} layers, but the model has {}", file, saved.num_layers,
           num_layers);
  return saved.scores;
}

SelectionResult select_by_scores(const SelectionConfig& cfg, int64_t num_layers, const std::string& strategy,
                                 const std::string& what, const std::function<std::vector<double>()>& compute) {
  SelectionResult r;
  std::string origin;
  if (!cfg.scores_file.empty()) {
    r.scores = load_saved_scores(cfg.scores_file, strategy, num_layers);
    origin = fmt::format(" (scores reused from {})", cfg.scores_file);
  } else {
    r.scores = compute();
  }
  VR_CHECK(static_cast<int64_t>(r.scores.size()) == num_layers, "{}: {} scores for {} layers", strategy,
           r.scores.size(), num_layers);
  const int64_t k = cfg.resolve_count(num_layers);
  r.layers = top_k_layers(r.scores, k, cfg.min_spacing);
  r.rationale = fmt::format("the {} of {} layers with the highest {}{}{}", k, num_layers, what,
                            cfg.min_spacing > 1 ? fmt::format(", at least {} apart", cfg.min_spacing) : "", origin);
  return r;
}

}  // namespace vr::selection
