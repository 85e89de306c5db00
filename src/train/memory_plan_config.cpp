// Memory plan inputs from a run config and model shapes only (see memory_plan_config.h).
#include "vr/train/memory_plan_config.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/model/model_configs.h"
#include "vr/model/projector.h"
#include "vr/selection/selection.h"
#include "vr/train/run_options.h"
#include "vr/train/trainable_params.h"

namespace vr::train {

namespace {

// Input and output widths of one Llama projection (q_proj ... down_proj), for LoRA's r·(in + out).
std::pair<int64_t, int64_t> plan_config_projection_shape(const std::string& target, const model::LlamaConfig& t) {
  const int64_t H = t.hidden_size, I = t.intermediate_size, q = t.num_attention_heads * t.resolved_head_dim(),
                kv = t.num_key_value_heads * t.resolved_head_dim();
  if (target == "q_proj") return {H, q};
  if (target == "k_proj" || target == "v_proj") return {H, kv};
  if (target == "o_proj") return {q, H};
  if (target == "gate_proj" || target == "up_proj") return {H, I};
  if (target == "down_proj") return {I, H};
  VR_FAIL("memory plan: lora.targets holds '{}', not a Llama projection (q_proj, k_proj, v_proj, o_proj, gate_proj, "
          "up_proj, down_proj)",
          target);
}

}  // namespace

model::LvlmConfig plan_model_config(const std::string& name_or_dir) {
  const auto names = model::named_lvlm_config_names();
  if (std::find(names.begin(), names.end(), name_or_dir) != names.end()) return model::named_lvlm_config(name_or_dir);
  const auto file = std::filesystem::path(name_or_dir) / "config.json";
  VR_CHECK(std::filesystem::exists(file),
           "memory plan: '{}' is neither a named configuration ({}) nor a directory with a config.json", name_or_dir,
           fmt::join(names, ", "));
  const auto j = read_json_file(file.string());
  VR_CHECK(j.value("model_type", std::string()) == "llava",
           "memory plan: {} is not an llava-hf config (model_type 'llava'); convert the checkpoint first "
           "(`vrtrain convert`) or name a configuration ({})",
           file.string(), fmt::join(names, ", "));
  return model::LvlmConfig::from_json(j);
}

ShapeOnlyPlanInputs memory_plan_inputs_from_shapes(const RunConfig& cfg, const model::LvlmConfig& model) {
  const auto& t = model.text;
  const int64_t L = t.num_hidden_layers, H = t.hidden_size, V = t.vocab_size;
  ShapeOnlyPlanInputs out;
  std::vector<int64_t> layers;
  if (cfg.train.stage == "sft") {
    selection::SelectionConfig sc = cfg.selection;
    const bool model_driven = sc.scores_file.empty() && selection::make_selector(sc.strategy)->needs_model();
    if (model_driven) {
      out.note = fmt::format("strategy {} needs the model: planned as uniform with the same count", sc.strategy);
      sc.strategy = "uniform";
    }
    selection::SelectionContext ctx;
    ctx.num_layers = L;
    const auto sel = selection::select_layers(sc, ctx);
    layers = sel.layers;
    if (out.note.empty()) out.note = sel.rationale;
  } else if (cfg.train.stage == "full") {
    for (int64_t i = 0; i < L; ++i) layers.push_back(i);
    out.note = "stage full: every layer";
  } else {
    out.note = "stage pretrain: the projector only";
  }

  // Trainable elements as apply_freeze counts them: projector always; tuned layers (all their tensors, the two
  // RMSNorm weights only with train_norms; or their LoRA adapters); embeddings with stage full +
  // train_embeddings; the vision tower when not frozen.
  TrainableSummary ts;
  ts.trainable_numel =
      cfg.train.train_projector
          ? model::projector_num_parameters(model.projector_type, model.vision.hidden_size, H)
          : 0;
  const int64_t embeddings = V * H * (t.tie_word_embeddings ? 1 : 2);
  const int64_t layer_total = (t.num_parameters() - embeddings - H) / std::max<int64_t>(L, 1);  // minus final norm
  int64_t per_layer = 0;
  if (cfg.train.method == "lora") {
    for (const auto& target : cfg.lora.targets) {
      const auto [in, o] = plan_config_projection_shape(target, t);
      per_layer += cfg.lora.r * (in + o);
    }
  } else {
    per_layer = layer_total - (cfg.train.train_norms ? 0 : 2 * H);
  }
  if (cfg.train.stage != "pretrain") ts.trainable_numel += per_layer * static_cast<int64_t>(layers.size());
  if (cfg.train.stage == "full" && cfg.train.train_embeddings) ts.trainable_numel += embeddings + H;
  else if (cfg.train.stage != "pretrain" && cfg.train.train_lm_head && !t.tie_word_embeddings)
    ts.trainable_numel += V * H;
  if (!cfg.train.freeze_vision_tower) ts.trainable_numel += model.vision.num_parameters();
  if (cfg.train.stage != "pretrain") ts.tuned_layers = layers;
  out.inputs = memory_plan_inputs(cfg, model, ts, 0);
  return out;
}

std::string shape_only_plan_report(const RunConfig& cfg) {
  const model::LvlmConfig model = plan_model_config(cfg.model.path);
  ShapeOnlyPlanInputs p = memory_plan_inputs_from_shapes(cfg, model);
  const auto& in = p.inputs;
  std::string r = fmt::format(
      "memory plan of {} from shapes ({} parameters, {} trainable): stage {} / method {}, layers [{}] ({})\n"
      "micro-batch {} x {} merged tokens, {}, {}gradient checkpointing, grad_accum {}, {}\n",
      cfg.model.path, model.num_parameters(), in.trainable_params, cfg.train.stage, cfg.train.method,
      fmt::join(in.tuned_layers, ","), p.note, in.batch, in.tokens, cfg.train.dtype,
      in.gradient_checkpointing ? "" : "no ", in.grad_accum,
      in.world_size > 1 ? fmt::format("{} ranks, {} (per rank below)", in.world_size,
                                      in.shard_optimizer ? fmt::format("ZeRO-{}", in.zero_stage)
                                                         : std::string("replicated optimizer"))
                        : std::string("1 rank (dist.world_size=N plans N ranks)"));
  // Per GPU: 80 GiB (H100 / A100-80GB), 2 GiB set aside for the CUDA context and the allocator's slack.
  constexpr double kGpu = 80.0 * (1ull << 30), kReserve = 2.0 * (1ull << 30);
  for (bool fused : {false, true}) {
    p.inputs.fused_attention = fused;
    r += fmt::format("{} attention{}:\n", fused ? "fused (SDPA)" : "eager",
                     fused ? " (training's path on LibTorch >= 2.0)" : " (LibTorch 1.13)");
    const MemoryPlan plan = plan_memory(p.inputs);
    r += plan.table();
    r += "  per GPU      " + plan.fits(kGpu, kReserve) + " (2 GiB kept for the CUDA context and allocator slack)\n";
  }
  return r;
}

}  // namespace vr::train
