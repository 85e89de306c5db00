// LoRA adapters (PEFT semantics, SPEC §5.3) on torch::nn::Linear layers of any module tree.
//   y = W·x + b + (alpha/r) · B·(A·dropout(x))     A [r,in] Kaiming-uniform a=√5 (U(±1/√in)), B [out,r] zeros,
//   dropout only on the LoRA branch input and only in train mode; bias "none".
// The adapter's A and B are registered on the wrapped Linear as "lora_A" / "lora_B", so named_parameters()
// read e.g. language_model.model.layers.5.self_attn.q_proj.lora_A.weight — PEFT's on-disk key without its
// "base_model.model." prefix. The adapter itself (child "lora") is a LinearBranch (vr/model/linear.h): the
// model code applies every linear through apply_linear() and never names LoRA; apply_lora() attaches the
// branches from outside, after the model is built.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "vr/core/tensor_files.h"
#include "vr/model/linear.h"

namespace vr::model {

struct LoraConfig {
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Full module names (exact match) or suffixes ("q_proj", "self_attn.q_proj": match name == t or
  // name ending in "." + t, PEFT's rule). Suffixes never match inside vision_tower / multi_modal_projector.
  std::vector<std::string> target_modules;
  std::string task_type = "CAUSAL_LM";
  std::string base_model_name_or_path;
  // PEFT's modules_to_save: full module names (e.g. "multi_modal_projector") whose parameters the adapter stores
  // whole, because a LoRA run trained them directly; without them PeftModel(base, adapter) is not the run's model.
  std::vector<std::string> modules_to_save;

  double scaling() const { return alpha / static_cast<double>(r); }
  nlohmann::json to_peft_json() const;  // adapter_config.json
  static LoraConfig from_peft_json(const nlohmann::json& j);
};

// The adapter state attached to one Linear (child "lora"; A and B are its siblings lora_A / lora_B): the branch
// apply_linear() adds to the layer's output while it is not merged into W.
class LoraAdapterImpl : public LinearBranchImpl {
 public:
  LoraAdapterImpl(torch::nn::Linear a, torch::nn::Linear b, double scaling, double dropout);
  at::Tensor delta(const at::Tensor& x) override;  // scaling · B(A(dropout(x)))
  bool active() const override { return !merged; }
  torch::nn::Linear lora_A, lora_B;
  double scaling, dropout;
  bool merged = false;
};
TORCH_MODULE(LoraAdapter);

// Wraps every matching Linear under `root`; returns the wrapped module names (sorted). Throws when nothing
// matches, when a full-name target does not exist, or when a module already has an adapter.
// `seed` >= 0 seeds A's initialisation (a torch generator of its own) for reproducible adapters.
std::vector<std::string> apply_lora(torch::nn::Module& root, const LoraConfig& config, int64_t seed = -1);

// The 7 projections of each listed decoder layer (the paper's find_all_linear_names), full names under
// `layers_prefix` (llava-hf: "language_model.model.layers.").
std::vector<std::string> visual_region_lora_targets(const std::vector<int64_t>& layers,
                                                    const std::string& layers_prefix = "language_model.model.layers.");

// W ← W + scaling·B·A (computed in fp32, stored in W's dtype) and back; forward then skips / restores the branch.
void merge_lora(torch::nn::Module& root);
void unmerge_lora(torch::nn::Module& root);

StateDict lora_state_dict(const torch::nn::Module& root);  // every *.lora_A.weight / *.lora_B.weight
std::vector<std::string> lora_modules(const torch::nn::Module& root);  // names of wrapped Linears

// PEFT layout: <dir>/adapter_model.safetensors (keys base_model.model.<module>.lora_{A,B}.weight, and
// base_model.model.<parameter> for every parameter under config.modules_to_save, as PEFT's save_pretrained
// writes them) and <dir>/adapter_config.json (r, lora_alpha, lora_dropout, target_modules = the wrapped full
// names, modules_to_save, bias "none", peft_type "LORA", task_type, base_model_name_or_path).
void save_peft_adapter(const torch::nn::Module& root, const LoraConfig& config, const std::string& dir);
// Reads a PEFT adapter (safetensors or adapter_model.bin), attaches adapters to the modules its tensors name and
// copies A/B, and copies the stored parameters of its modules_to_save into `root`. Original-LLaVA module names (model.layers.*) are mapped to llava-hf names when `root` uses those.
LoraConfig load_peft_adapter(torch::nn::Module& root, const std::string& dir);

}  // namespace vr::model
