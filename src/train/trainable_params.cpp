#include "vr/train/trainable_params.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <torch/nn/module.h>

#include "vr/core/error.h"
#include "vr/core/strings.h"

namespace vr::train {

ParamInfo classify_param(const std::string& name) {
  ParamInfo info;
  info.is_lora = name.find(".lora_A") != std::string::npos || name.find(".lora_B") != std::string::npos;
  info.is_norm = name.find("norm") != std::string::npos;
  const std::string layers_prefix = "language_model.model.layers.";
  if (starts_with(name, "vision_tower.")) {
    info.role = ParamRole::VisionTower;
  } else if (starts_with(name, "multi_modal_projector.")) {
    info.role = ParamRole::Projector;
  } else if (starts_with(name, layers_prefix)) {
    info.role = ParamRole::Layer;
    size_t end = name.find('.', layers_prefix.size());
    info.layer = std::stoll(name.substr(layers_prefix.size(), end - layers_prefix.size()));
  } else if (starts_with(name, "language_model.model.embed_tokens.")) {
    info.role = ParamRole::Embeddings;
  } else if (starts_with(name, "language_model.model.norm.")) {
    info.role = ParamRole::FinalNorm;
  } else if (starts_with(name, "language_model.lm_head.")) {
    info.role = ParamRole::LmHead;
  }
  return info;
}

bool is_trainable(const std::string& name, const FreezeSpec& spec) {
  const ParamInfo info = classify_param(name);
  if (info.role == ParamRole::LmHead && spec.train_lm_head && spec.stage != "pretrain") return true;
  switch (info.role) {
    case ParamRole::Projector: return spec.train_projector;
    case ParamRole::VisionTower: return !spec.freeze_vision_tower && !info.is_lora;
    case ParamRole::Embeddings:
    case ParamRole::FinalNorm:
    case ParamRole::LmHead: return spec.stage == "full" && spec.train_embeddings;  // (train_lm_head: below)
    case ParamRole::Other: return false;
    case ParamRole::Layer: break;
  }
  if (spec.stage == "pretrain") return false;
  bool tuned = spec.stage == "full" ||
               std::find(spec.layers.begin(), spec.layers.end(), info.layer) != spec.layers.end();
  if (!tuned) return false;
  if (spec.method == "lora") return info.is_lora;  // base weights stay frozen under LoRA
  if (info.is_lora) return false;
  return !info.is_norm || spec.train_norms;
}

TrainableSummary apply_freeze(torch::nn::Module& model, const FreezeSpec& spec) {
  TrainableSummary out;
  std::set<int64_t> tuned, present;
  for (auto& kv : model.named_parameters()) {
    bool on = is_trainable(kv.key(), spec);
    kv.value().set_requires_grad(on);
    out.total_numel += kv.value().numel();
    ParamInfo info = classify_param(kv.key());
    if (info.role == ParamRole::Layer) present.insert(info.layer);
    if (!on) continue;
    out.trainable.push_back(kv.key());
    out.trainable_numel += kv.value().numel();
    if (info.role == ParamRole::Layer) tuned.insert(info.layer);
  }
  if (spec.stage == "sft")
    for (int64_t l : spec.layers)
      VR_CHECK(present.count(l), "selected layer {} does not exist: the model has {} LLM layers (0..{})", l,
               present.size(), static_cast<int64_t>(present.size()) - 1);
  if (spec.stage == "sft" && spec.method == "lora")
    for (int64_t l : spec.layers)
      VR_CHECK(tuned.count(l), "selected layer {} has no LoRA adapters: were adapters applied to it?", l);
  VR_CHECK(!out.trainable.empty(), "nothing to train: stage '{}' matched no parameter of the model", spec.stage);
  out.tuned_layers.assign(tuned.begin(), tuned.end());
  return out;
}

std::string trainable_table(torch::nn::Module& model) {
  struct Row { int64_t trainable = 0, total = 0; };
  std::map<std::string, Row> fixed;        // non-layer modules
  std::map<int64_t, Row> layers;
  for (auto& kv : model.named_parameters()) {
    ParamInfo info = classify_param(kv.key());
    int64_t n = kv.value().numel(), t = kv.value().requires_grad() ? n : 0;
    if (info.role == ParamRole::Layer) {
      layers[info.layer].total += n;
      layers[info.layer].trainable += t;
      continue;
    }
    const char* module = info.role == ParamRole::VisionTower  ? "vision_tower"
                         : info.role == ParamRole::Projector  ? "multi_modal_projector"
                         : info.role == ParamRole::Embeddings ? "embed_tokens"
                         : info.role == ParamRole::FinalNorm  ? "norm"
                         : info.role == ParamRole::LmHead     ? "lm_head"
                                                              : "other";
    fixed[module].total += n;
    fixed[module].trainable += t;
  }
  std::string out = fmt::format("{:<28} {:>14} {:>14} {:>8}\n", "module", "trainable", "total", "%");
  auto row = [&](const std::string& name, const Row& r) {
    out += fmt::format("{:<28} {:>14} {:>14} {:>7.2f}%\n", name, r.trainable, r.total,
                       r.total ? 100.0 * static_cast<double>(r.trainable) / static_cast<double>(r.total) : 0.0);
  };
  Row all;
  for (const char* m : {"vision_tower", "multi_modal_projector", "embed_tokens"})
    if (fixed.count(m)) row(m, fixed[m]);
  // Fold runs of consecutive layers with the same trainable count ("layers 2-4").
  for (auto it = layers.begin(); it != layers.end();) {
    auto run_end = it;
    Row sum;
    while (run_end != layers.end() && run_end->second.trainable == it->second.trainable &&
           run_end->second.total == it->second.total && (run_end == it || it->second.trainable == 0)) {
      sum.trainable += run_end->second.trainable;
      sum.total += run_end->second.total;
      ++run_end;
    }
    int64_t first = it->first, last = std::prev(run_end)->first;
    row(first == last ? fmt::format("layers.{}", first) : fmt::format("layers.{}-{}", first, last), sum);
    it = run_end;
  }
  for (const char* m : {"norm", "lm_head", "other"})
    if (fixed.count(m)) row(m, fixed[m]);
  for (auto& kv : fixed) all.trainable += kv.second.trainable, all.total += kv.second.total;
  for (auto& kv : layers) all.trainable += kv.second.trainable, all.total += kv.second.total;
  row("total", all);
  return out;
}

}  // namespace vr::train
