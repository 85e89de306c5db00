// Everything decided before the first step of a run, shared by `vrtrain train`, `vrtrain bench`,
// `vrtrain score` and the tests.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vr/train/run_config.h"
#include "vr/train/trainable_params.h"

namespace vr::model {
class Lvlm;
}
namespace vr::selection {
struct SelectionResult;
}

namespace vr::train {

struct RunContext;

// Everything decided before the first step: the loaded model with its trainable set, and the plan printed at
// start (selected layers, trainable table, memory estimate).
struct PreparedRun {
  std::shared_ptr<model::Lvlm> model;
  std::vector<int64_t> layers;          // tuned LLM layers (sft: the selection; full: all; pretrain: none)
  std::string selection_rationale;
  std::vector<double> selection_scores;
  TrainableSummary trainable;
  std::string plan;                     // human-readable, multi-line
};

// Loads the model of model.path (train.dtype) onto ctx.device, runs layer selection (sft), applies LoRA
// (method lora), freezes, turns on gradient checkpointing, and writes the plan. `tokens_per_sample` feeds the
// activation estimate. The model must exist (see tiny_model_for_run.h for configs that create a tiny one).
PreparedRun prepare_run(const RunConfig& cfg, const RunContext& ctx, int64_t tokens_per_sample = 0);

// The model of model.path as a run uses it: in train.dtype, on ctx.device (built there, the weights copied straight
// in: model/layouts.h), merged sequences cut at data.model_max_length. prepare_run starts from it; so do
// `vrtrain score` and `vrtrain prune` when they select layers, so they pick what the run would.
std::shared_ptr<model::Lvlm> load_run_model(const RunConfig& cfg, const RunContext& ctx);

// Runs cfg.selection for `model`. Strategies that need the model (attention, block_influence) get
// selection.calibration_samples samples of the run's data (batch size 1, the run's seed), which they run in
// eval mode without gradients, restoring the model's training mode afterwards.
selection::SelectionResult select_run_layers(const RunConfig& cfg, const RunContext& ctx,
                                             std::shared_ptr<model::Lvlm> model);

}  // namespace vr::train
