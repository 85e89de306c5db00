// Run preparation: loading onto the run's device, layer selection, LoRA, freezing, the printed plan.
#include "vr/train/prepare_run.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/data/loader.h"
#include "vr/distributed/communicator.h"
#include "vr/model/attention_backend.h"
#include "vr/model/layouts.h"
#include "vr/model/lora.h"
#include "vr/model/lvlm.h"
#include "vr/selection/selection.h"
#include "vr/train/memory_plan.h"
#include "vr/train/run_context.h"
#include "vr/train/run_loader.h"
#include "vr/train/run_options.h"
#include "vr/train/train_step.h"

namespace vr::train {

// Data parallel: a model-driven strategy (attention, block_influence without a scores_file) runs on rank 0 alone,
// on the calibration rows a one-process run reads (rank 0 of 1: the same selection whatever the world size), and
// its result reaches the other ranks by broadcast; they wait for it within dist.init_timeout_s. Other strategies
// are pure functions of the config and run everywhere. Either way the trainer's start-up check compares the
// trainable tensor names (which name the selected layers) across ranks.
selection::SelectionResult select_run_layers(const RunConfig& cfg, const RunContext& ctx,
                                             std::shared_ptr<model::Lvlm> model) {
  const bool model_driven =
      cfg.selection.scores_file.empty() && selection::make_selector(cfg.selection.strategy)->needs_model();
  const bool once = model_driven && ctx.world_size > 1;
  selection::SelectionResult sel;
  if (!once || ctx.rank == 0) {
    RunContext calib_ctx = ctx;
    if (once) {
      calib_ctx.rank = calib_ctx.local_rank = 0;
      calib_ctx.world_size = calib_ctx.local_world_size = 1;
    }
    selection::SelectionContext sc;
    sc.num_layers = (*model)->config().text.num_hidden_layers;
    sc.model = model.get();
    // Created on first use: heuristics never call it. run_calibration (selection/calibration.cpp) stops after
    // selection.calibration_samples rows and runs them in eval mode without gradients.
    std::shared_ptr<data::DataLoader> calib;
    sc.calibration_batches = [&]() -> std::optional<data::Batch> {
      if (!calib) calib = make_run_loader(cfg, calib_ctx, 1);
      return calib->next();
    };
    sel = selection::select_layers(cfg.selection, sc);
  }
  if (!once) return sel;
  const std::string text =
      ctx.comm->broadcast_text(ctx.rank == 0 ? sel.to_json().dump() : std::string(), "the layer selection");
  if (ctx.rank != 0) sel = selection::SelectionResult::from_json(nlohmann::json::parse(text), "rank 0's selection");
  sel.rationale += fmt::format(" (computed on rank 0, broadcast to {} ranks)", ctx.world_size);
  return sel;
}

std::shared_ptr<model::Lvlm> load_run_model(const RunConfig& cfg, const RunContext& ctx) {
  namespace fs = std::filesystem;
  VR_CHECK(fs::exists(fs::path(cfg.model.path) / "config.json"),
           "model.path '{}' has no config.json (set model.path to an HF checkpoint directory, or "
           "model.make_tiny_family to create a tiny one)",
           cfg.model.path);
  const bool bf16 = cfg.train.dtype == "bf16";
  // Built in the run's dtype on the run's device, the weights copied straight there (model/layouts.h).
  auto model = std::make_shared<model::Lvlm>(model::load_lvlm(
      cfg.model.path, bf16 ? std::optional<at::ScalarType>(at::kBFloat16) : std::nullopt, ctx.device));
  // data.model_max_length bounds the merged sequence, as LLaVA's tokenizer_model_max_length (exported with it).
  (*model)->set_model_max_length(cfg.data.model_max_length);
  return model;
}

PreparedRun prepare_run(const RunConfig& cfg, const RunContext& ctx, int64_t tokens_per_sample) {
  PreparedRun run;
  const bool bf16 = cfg.train.dtype == "bf16";
  auto model = load_run_model(cfg, ctx);
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
  // How the forward runs in training, in one place: checkpointing as configured, and the fused attention kernels
  // where LibTorch has them (2.x; eager on 1.13).
  (*model)->language_model->set_gradient_checkpointing(cfg.train.gradient_checkpointing);
  if (compat::sdpa_available()) model::set_fused_attention(**model, true);
  (*model)->train();
  run.model = model;

  MemoryPlanInputs mi = memory_plan_inputs(cfg, (*model)->config(), run.trainable, tokens_per_sample);
  mi.world_size = ctx.world_size;
  mi.fp32_gradients = uses_fp32_gradients(cfg.train, cfg.dist, ctx.world_size);
  run.plan += fmt::format("stage {} / method {}: {} of {} parameters train ({:.2f}%)\n", cfg.train.stage,
                          cfg.train.method, run.trainable.trainable_numel, run.trainable.total_numel,
                          100.0 * static_cast<double>(run.trainable.trainable_numel) /
                              static_cast<double>(run.trainable.total_numel));
  run.plan += trainable_table(**model);
  run.plan += fmt::format("memory plan (micro-batch {} x {} merged tokens, {}, {} attention{}):\n", mi.batch,
                          mi.tokens, cfg.train.dtype, mi.fused_attention ? "fused" : "eager",
                          mi.gradient_checkpointing ? ", gradient checkpointing" : "");
  run.plan += plan_memory(mi).table();
  if (cfg.dist.shard_optimizer && ctx.world_size > 1) {
    // ZeRO (vr/train/optimizer.h): fp32 master + 2 moments of ceil(N / W) elements per rank (+ bucket padding).
    const int64_t n = run.trainable.trainable_numel, w = ctx.world_size;
    run.plan += fmt::format("  optimizer state sharded over {} ranks (dist.shard_optimizer): {:.2f} MiB per rank "
                            "(12 bytes x {} / {}) instead of the optimizer line above\n",
                            w, 12.0 * static_cast<double>((n + w - 1) / w) / (1 << 20), n, w);
  }
  return run;
}

}  // namespace vr::train
