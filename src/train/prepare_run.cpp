// Run preparation: tiny-model creation, loading, layer selection, LoRA, freezing, the printed plan; final export.
#include "vr/train/prepare_run.h"

#include <filesystem>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/data/loader.h"
#include "vr/model/lvlm.h"
#include "vr/train/lvlm_task.h"
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vr/model/layouts.h"
#include "vr/model/lora.h"
#include "vr/selection/selection.h"
#include "vr/train/memory_estimate.h"
#include "vr/train/tiny_model.h"

namespace vr::train {

selection::SelectionResult select_run_layers(const RunConfig& cfg, std::shared_ptr<model::Lvlm> model) {
  selection::SelectionContext ctx;
  ctx.num_layers = (*model)->config().text.num_hidden_layers;
  ctx.model = model.get();
  // Created on first use: heuristics never call it. run_calibration (selection/calibration.cpp) stops after
  // selection.calibration_samples rows and runs them in eval mode without gradients.
  std::shared_ptr<data::DataLoader> calib;
  ctx.calibration_batches = [&]() -> std::optional<data::Batch> {
    if (!calib) calib = make_run_loader(cfg, 1);
    return calib->next();
  };
  return selection::select_layers(cfg.selection, ctx);
}

PreparedRun prepare_run(const RunConfig& cfg, int64_t tokens_per_sample) {
  namespace fs = std::filesystem;
  PreparedRun run;
  if (!cfg.model.make_tiny_family.empty() && !fs::exists(fs::path(cfg.model.path) / "config.json")) {
    TinyModelOptions t;
    t.family = cfg.model.make_tiny_family;
    t.seed = cfg.model.make_tiny_seed;
    make_tiny_model(cfg.model.path, t);
    run.plan += fmt::format("created tiny {} model in {}\n", t.family, cfg.model.path);
  }
  VR_CHECK(fs::exists(fs::path(cfg.model.path) / "config.json"),
           "model.path '{}' has no config.json (set model.path to an HF checkpoint directory, or "
           "model.make_tiny_family to create a tiny one)",
           cfg.model.path);
  const bool bf16 = cfg.train.dtype == "bf16";
  auto model = std::make_shared<model::Lvlm>(
      model::load_lvlm(cfg.model.path, bf16 ? std::optional<at::ScalarType>(at::kBFloat16) : std::nullopt));
  if (torch::cuda::is_available()) (*model)->to(torch::kCUDA);
  const int64_t num_layers = (*model)->config().text.num_hidden_layers;

  FreezeSpec spec;
  spec.stage = cfg.train.stage;
  spec.method = cfg.train.method;
  spec.train_norms = cfg.train.train_norms;
  spec.train_embeddings = cfg.train.train_embeddings;
  spec.freeze_vision_tower = cfg.train.freeze_vision_tower;
  if (cfg.train.stage == "sft") {
    selection::SelectionResult sel = select_run_layers(cfg, model);
    run.layers = sel.layers;
    run.selection_rationale = sel.rationale;
    run.selection_scores = sel.scores;
    run.plan += fmt::format("selection: {} picked {} of {} layers: [{}] ({})\n", sel.strategy, sel.layers.size(),
                            num_layers, fmt::join(sel.layers, ", "), sel.rationale);
    if (!sel.scores.empty()) run.plan += fmt::format("  per-layer scores: [{:.4g}]\n", fmt::join(sel.scores, ", "));
  } else if (cfg.train.stage == "full") {
    for (int64_t i = 0; i < num_layers; ++i) run.layers.push_back(i);
  }
  spec.layers = run.layers;
  if (cfg.train.method == "lora") {
    model::LoraConfig lc;
    lc.r = cfg.lora.r;
    lc.alpha = cfg.lora.alpha;
    lc.dropout = cfg.lora.dropout;
    lc.base_model_name_or_path = cfg.model.path;
    for (int64_t l : run.layers)
      for (const auto& t : cfg.lora.targets)
        lc.target_modules.push_back(fmt::format("language_model.model.layers.{}.{}.{}", l,
                                                (t == "gate_proj" || t == "up_proj" || t == "down_proj") ? "mlp"
                                                                                                          : "self_attn",
                                                t));
    model::apply_lora(**model, lc, cfg.train.seed);
    if (bf16) (*model)->to(at::kBFloat16);
    if (torch::cuda::is_available()) (*model)->to(torch::kCUDA);
  }
  run.trainable = apply_freeze(**model, spec);
  (*model)->language_model->set_gradient_checkpointing(cfg.train.gradient_checkpointing);
  (*model)->train();
  run.model = model;

  const auto& tc = (*model)->config().text;
  MemoryInputs mi;
  mi.total_params = run.trainable.total_numel;
  mi.trainable_params = run.trainable.trainable_numel;
  mi.bytes_per_element = bf16 ? 2 : 4;
  mi.batch = cfg.train.batch_size;
  mi.tokens = tokens_per_sample > 0 ? tokens_per_sample : cfg.data.model_max_length;
  mi.hidden = tc.hidden_size;
  mi.heads = tc.num_attention_heads;
  mi.layers = tc.num_hidden_layers;
  mi.vocab = tc.vocab_size;
  mi.gradient_checkpointing = cfg.train.gradient_checkpointing;
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

namespace {

// The files that make a checkpoint directory usable for inference beside the weights: tokenizer and image
// processor, copied from the model the run started from (when it has them).
void copy_processing_files(const std::string& source_model_dir, const std::string& dir) {
  namespace fs = std::filesystem;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "preprocessor_config.json", "tokenizer.model"}) {
    const fs::path src = fs::path(source_model_dir) / name;
    if (fs::exists(src)) fs::copy_file(src, fs::path(dir) / name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace

void export_lvlm(model::Lvlm& m, const std::string& dir, bool lora, const std::string& source_model_dir) {
  namespace fs = std::filesystem;
  torch::NoGradGuard no_grad;
  if (!lora) {
    model::save_lvlm(m, dir);
    copy_processing_files(source_model_dir, dir);
    return;
  }
  // Adapter first (unmerged A/B), then the merged full model, then the adapter beside it.
  model::LoraConfig lc;
  auto mods = model::lora_modules(*m);
  VR_CHECK(!mods.empty(), "export: no LoRA adapters found in the model");
  lc.target_modules = mods;
  lc.base_model_name_or_path = source_model_dir;
  // r / alpha from the first adapter's shapes and scaling.
  auto sd = model::lora_state_dict(*m);
  lc.r = sd.begin()->second.size(0);
  std::string tmp_adapter = dir + ".adapter-tmp";
  fs::remove_all(tmp_adapter);
  for (const auto& kv : m->named_modules()) {
    if (auto* a = kv.value()->as<model::LoraAdapterImpl>()) {
      lc.alpha = a->scaling * static_cast<double>(lc.r);
      lc.dropout = a->dropout;
      break;
    }
  }
  model::save_peft_adapter(*m, lc, tmp_adapter);
  model::merge_lora(*m);
  // The merged export holds only the base tensors: save through a copy of the state without lora_* entries.
  model::save_lvlm(m, dir);
  copy_processing_files(source_model_dir, dir);
  model::unmerge_lora(*m);
  fs::rename(tmp_adapter, fs::path(dir) / "adapter");
}

}  // namespace vr::train
