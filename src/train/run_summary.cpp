#include "vr/train/run_summary.h"

#include <limits>

#include "vr/core/process_memory.h"
#include "vr/model/lvlm.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_config.h"
#include "vr/train/trainer.h"

namespace vr::train {

nlohmann::json RunSummary::to_json() const {
  nlohmann::json j = {{"strategy", strategy}, {"stage", stage}, {"method", method}, {"layers", layers}, {"num_layers", num_layers},
          {"selection_scores", selection_scores}, {"selection_rationale", selection_rationale},
          {"trainable_params", trainable_params}, {"total_params", total_params}, {"steps", steps},
          {"seconds", seconds}, {"tokens", tokens}, {"images", images}, {"first_loss", first_loss},
          {"last_loss", last_loss}, {"samples", samples}, {"peak_rss_bytes", peak_rss_bytes}, {"seed", seed}};
  figures.add_to_json(j);
  return j;
}

namespace {

// The value under `key`, or `fallback` when it is missing or null (a NaN is written as null).
template <typename T>
T summary_field(const nlohmann::json& j, const char* key, const T& fallback) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<T>();
}

// A list of numbers whose NaNs were written as null (per-layer scores: triplet has none for the last layers).
std::vector<double> numbers_field(const nlohmann::json& j, const char* key, const std::vector<double>& fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  std::vector<double> v;
  for (const auto& x : *it) v.push_back(x.is_null() ? std::numeric_limits<double>::quiet_NaN() : x.get<double>());
  return v;
}

}  // namespace

RunSummary RunSummary::from_json(const nlohmann::json& j) {
  RunSummary s;
  s.strategy = summary_field(j, "strategy", s.strategy);
  s.stage = summary_field(j, "stage", s.stage);
  s.method = summary_field(j, "method", s.method);
  s.layers = summary_field(j, "layers", s.layers);
  s.num_layers = summary_field(j, "num_layers", s.num_layers);
  s.selection_scores = numbers_field(j, "selection_scores", s.selection_scores);
  s.selection_rationale = summary_field(j, "selection_rationale", s.selection_rationale);
  s.trainable_params = summary_field(j, "trainable_params", s.trainable_params);
  s.total_params = summary_field(j, "total_params", s.total_params);
  s.steps = summary_field(j, "steps", s.steps);
  s.seconds = summary_field(j, "seconds", s.seconds);
  s.tokens = summary_field(j, "tokens", s.tokens);
  s.images = summary_field(j, "images", s.images);
  s.first_loss = summary_field(j, "first_loss", s.first_loss);
  s.last_loss = summary_field(j, "last_loss", s.last_loss);
  s.samples = summary_field(j, "samples", s.samples);
  s.peak_rss_bytes = summary_field(j, "peak_rss_bytes", s.peak_rss_bytes);
  s.seed = summary_field(j, "seed", s.seed);
  s.figures = RunFigures::from_json(j);
  return s;
}

RunSummary make_run_summary(const RunConfig& cfg, const PreparedRun& run, const TrainResult& result,
                            int64_t world_size) {
  RunSummary s;
  s.strategy = cfg.train.stage != "sft"                     ? cfg.train.stage
               : cfg.selection.strategy == "consecutive" ? "consecutive-" + cfg.selection.position
                                                         : cfg.selection.strategy;
  s.stage = cfg.train.stage;
  s.method = cfg.train.method;
  s.layers = run.layers;
  s.num_layers = (*run.model)->config().text.num_hidden_layers;
  s.selection_scores = run.selection_scores;
  s.selection_rationale = run.selection_rationale;
  s.trainable_params = run.trainable.trainable_numel;
  s.total_params = run.trainable.total_numel;
  s.steps = result.steps_done;
  s.seconds = result.seconds;
  s.tokens = result.tokens;
  s.images = result.images;
  s.first_loss = result.first_loss;
  s.last_loss = result.last_loss;
  s.samples = result.steps_done * cfg.train.batch_size * cfg.train.grad_accum * world_size;
  s.peak_rss_bytes = vr::peak_rss_bytes();
  s.seed = cfg.train.seed;
  s.figures = result.figures;
  return s;
}

}  // namespace vr::train
