#include "vr/train/run_summary.h"

#include "vr/core/process_memory.h"
#include "vr/model/lvlm.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_config.h"
#include "vr/train/trainer.h"

namespace vr::train {

nlohmann::json RunSummary::to_json() const {
  return {{"strategy", strategy}, {"stage", stage}, {"method", method}, {"layers", layers}, {"num_layers", num_layers},
          {"selection_scores", selection_scores}, {"selection_rationale", selection_rationale},
          {"trainable_params", trainable_params}, {"total_params", total_params}, {"steps", steps},
          {"seconds", seconds}, {"tokens", tokens}, {"images", images}, {"first_loss", first_loss},
          {"last_loss", last_loss}, {"samples", samples}, {"peak_rss_bytes", peak_rss_bytes}, {"seed", seed}};
}

RunSummary RunSummary::from_json(const nlohmann::json& j) {
  RunSummary s;
  s.strategy = j.value("strategy", s.strategy);
  s.stage = j.value("stage", s.stage);
  s.method = j.value("method", s.method);
  s.layers = j.value("layers", s.layers);
  s.num_layers = j.value("num_layers", s.num_layers);
  s.selection_scores = j.value("selection_scores", s.selection_scores);
  s.selection_rationale = j.value("selection_rationale", s.selection_rationale);
  s.trainable_params = j.value("trainable_params", s.trainable_params);
  s.total_params = j.value("total_params", s.total_params);
  s.steps = j.value("steps", s.steps);
  s.seconds = j.value("seconds", s.seconds);
  s.tokens = j.value("tokens", s.tokens);
  s.images = j.value("images", s.images);
  s.first_loss = j.value("first_loss", s.first_loss);
  s.last_loss = j.value("last_loss", s.last_loss);
  s.samples = j.value("samples", s.samples);
  s.peak_rss_bytes = j.value("peak_rss_bytes", s.peak_rss_bytes);
  s.seed = j.value("seed", s.seed);
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
  return s;
}

}  // namespace vr::train
