// Run preparation: loading onto the run's device, layer selection, LoRA, freezing, the printed plan.
#include "vr/train/prepare_run.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/data/loader.h"
#include "vr/model/layouts.h"
#include "vr/model/lora.h"
#include "vr/model/lvlm.h"
#include "vr/selection/selection.h"
#include "vr/train/memory_estimate.h"
#include "vr/train/run_context.h"
#include "vr/train/run_loader.h"
#include "vr/train/run_options.h"

namespace vr::train {

selection::SelectionResult select_run_layers(const RunConfig& cfg, const RunContext& ctx,
                                             std::shared_ptr<model::Lvlm> model) {
  selection::SelectionContext sc;
  sc.num_layers = (*model)->config().text.num_hidden_layers;
  sc.model = model.get();
  // Created on first use: heuristics never call it. run_calibration (selection/calibration.cpp) stops after
  // selection.calibration_samples rows and runs them in eval mode without gradients.
  std::shared_ptr<data::DataLoader> calib;
  sc.calibration_batches = [&]() -> std::optional<data::Batch> {
    if (!calib) calib = make_run_loader(cfg, ctx, 1);
    return calib->next();
  };
  return selection::select_layers(cfg.selection, sc);
}

PreparedRun prepare_run(const RunConfig& cfg, const RunContext& ctx, int64_t tokens_per_sample) {
  namespace fs = std::filesystem;
  PreparedRun run;
  VR_CHECK(fs::exists(fs::path(cfg.model.path) / "config.json"),
           "model.path '{}' has no config.json (set model.path to an HF checkpoint directory, or "
           "model.make_tiny_family to create a tiny one)",
           cfg.model.path);
  const bool bf16 = cfg.train.dtype == "bf16";
  auto model = std::make_shared<model::Lvlm>(
      model::load_lvlm(cfg.model.path, bf16 ? std::optional<at::ScalarType>(at::kBFloat16) : std::nullopt));
  (*model)->to(ctx.device);
  const int64_t num_layers = (*model)->config().text.num_hidden_layers;

  if (cfg.train.stage == "sft") {
    selection::SelectionResult sel = select_run_layers(cfg, ctx, model);
    run.layers = sel.layers;
    run.selection_rationale = sel.rationale;
    run.selection_scores = sel.scores;
    run.plan += fmt::format("selection: {} picked {} of {} layers: [{}] ({})\n", sel.strategy, sel.layers.size(),
                            num_layers, fmt::join(sel.layers, ", "), sel.rationale);
    if (!sel.scores.empty()) run.plan += fmt::format("  per-layer scores: [{:.4g}]\n", fmt::join(sel.scores, ", "));
  } else if (cfg.train.stage == "full") {
    for (int64_t i = 0; i < num_layers; ++i) run.layers.push_back(i);
  }
  if (cfg.train.method == "lora") {
    model::apply_lora(**model, lora_config(cfg, run.layers), static_cast<int64_t>(ctx.seed));
    if (bf16) (*model)->to(at::kBFloat16);
    (*model)->to(ctx.device);
  }
  run.trainable = apply_freeze(**model, freeze_spec(cfg, run.layers));
  (*model)->language_model->set_gradient_checkpointing(cfg.train.gradient_checkpointing);
  (*model)->train();
  run.model = model;

  const MemoryInputs mi = memory_inputs(cfg, (*model)->config().text, run.trainable, tokens_per_sample);
  run.plan += fmt::format("stage {} / method {}: {} of {} parameters train ({:.2f}%)\n", cfg.train.stage,
                          cfg.train.method, run.trainable.trainable_numel, run.trainable.total_numel,
                          100.0 * static_cast<double>(run.trainable.trainable_numel) /
                              static_cast<double>(run.trainable.total_numel));
  run.plan += trainable_table(**model);
  run.plan += fmt::format("memory estimate (micro-batch {} x {} tokens, {}{}):\n", mi.batch, mi.tokens,
                          cfg.train.dtype, mi.gradient_checkpointing ? ", gradient checkpointing" : "");
  run.plan += estimate_memory(mi).table();
  return run;
}

}  // namespace vr::train
