#include "vr/train/final_export.h"

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/model/layouts.h"
#include "vr/model/lora.h"
#include "vr/model/lvlm.h"
#include "vr/train/trainable_params.h"

namespace vr::train {

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

// The modules whose parameters a LoRA run trained directly (requires_grad, not an adapter's A/B): the projector
// always, the vision tower when unfrozen, embeddings / final norm / lm_head with train_embeddings. The PEFT
// adapter must carry them whole (modules_to_save), else PeftModel(base, adapter) runs the base projector.
std::vector<std::string> final_export_modules_to_save(model::Lvlm& m) {
  std::set<std::string> out;
  for (const auto& kv : m->named_parameters()) {
    if (!kv.value().requires_grad()) continue;
    const ParamInfo info = classify_param(kv.key());
    if (info.is_lora) continue;
    switch (info.role) {
      case ParamRole::Projector: out.insert("multi_modal_projector"); break;
      case ParamRole::VisionTower: out.insert("vision_tower"); break;
      case ParamRole::Embeddings: out.insert("language_model.model.embed_tokens"); break;
      case ParamRole::FinalNorm: out.insert("language_model.model.norm"); break;
      case ParamRole::LmHead: out.insert("language_model.lm_head"); break;
      default: out.insert(kv.key().substr(0, kv.key().rfind('.')));  // the parameter's own module
    }
  }
  return {out.begin(), out.end()};
}

}  // namespace

void export_lvlm(model::Lvlm& m, const std::string& dir, bool lora, const std::string& source_model_dir) {
  namespace fs = std::filesystem;
  torch::NoGradGuard no_grad;
  if (!lora) {
    model::save_lvlm(m, dir, source_model_dir);
    copy_processing_files(source_model_dir, dir);
    return;
  }
  // final/ = the merged full model + adapter/ (unmerged A/B, PEFT names of vr/model/layouts.h), written as one
  // directory through the atomic directory writer: a crash leaves the old final/ or the complete new one.
  model::LoraConfig lc;
  auto mods = model::lora_modules(*m);
  VR_CHECK(!mods.empty(), "export: no LoRA adapters found in the model");
  lc.target_modules = mods;
  lc.base_model_name_or_path = source_model_dir;
  lc.modules_to_save = final_export_modules_to_save(m);
  // r / alpha from the first adapter's shapes and scaling.
  auto sd = model::lora_state_dict(*m);
  lc.r = sd.begin()->second.size(0);
  for (const auto& kv : m->named_modules()) {
    if (auto* a = kv.value()->as<model::LoraAdapterImpl>()) {
      lc.alpha = a->scaling * static_cast<double>(lc.r);
      lc.dropout = a->dropout;
      break;
    }
  }
  write_directory_atomically(dir, [&](const std::string& tmp) {
    model::merge_lora(*m);
    try {
      // The merged export holds only the base tensors: save through a copy of the state without lora_* entries.
      model::save_lvlm(m, tmp, source_model_dir);
    } catch (...) {
      model::unmerge_lora(*m);
      throw;
    }
    model::unmerge_lora(*m);
    model::save_peft_adapter(*m, lc, (fs::path(tmp) / "adapter").string());
    copy_processing_files(source_model_dir, tmp);
  });
}

}  // namespace vr::train
