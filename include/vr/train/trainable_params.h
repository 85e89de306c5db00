// Which parameters train, decided from their (llava-hf) names and the run's stage:
//   pretrain  projector only
//   sft       projector + the selected LLM layers: all their tensors (method full; their two RMSNorm weights too
//             unless train_norms is false) or only the LoRA adapters inside them (method lora)
//   full      projector + every LLM decoder layer (+ embeddings, final norm and lm_head with train_embeddings)
// The vision tower trains only when freeze_vision_tower is false. Everything else gets requires_grad = false, so
// autograd computes no weight gradient for it and the optimizer holds no state for it.
// Names: vision_tower.*, multi_modal_projector.*, language_model.model.layers.{i}.*, language_model.lm_head.*,
// LoRA adapters contain ".lora_A" / ".lora_B".
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace torch::nn {
class Module;
}

namespace vr::train {

struct FreezeSpec {
  std::string stage = "sft";           // pretrain | sft | full
  std::string method = "full";         // full | lora
  std::vector<int64_t> layers;         // sft: tuned LLM layer indices
  bool train_norms = true;
  bool train_embeddings = false;
  bool freeze_vision_tower = true;
  bool train_lm_head = false;          // sft/full: lm_head trains too (healing a pruned model)
  bool train_projector = true;         // false: the projector stays frozen (healing)
};

enum class ParamRole { VisionTower, Projector, Embeddings, Layer, FinalNorm, LmHead, Other };

struct ParamInfo {
  ParamRole role = ParamRole::Other;
  int64_t layer = -1;     // LLM decoder layer index for ParamRole::Layer
  bool is_lora = false;   // a LoRA adapter tensor
  bool is_norm = false;   // an RMSNorm / LayerNorm weight
};

// Classifies one llava-hf parameter name.
ParamInfo classify_param(const std::string& name);

// Whether `name` trains under `spec`.
bool is_trainable(const std::string& name, const FreezeSpec& spec);

struct TrainableSummary {
  std::vector<std::string> trainable;  // names, in named_parameters() order
  int64_t trainable_numel = 0, total_numel = 0;
  std::vector<int64_t> tuned_layers;   // LLM layers with at least one trainable tensor
};

// Sets requires_grad on every parameter of `model` and returns what trains. Fails when nothing trains or when a
// selected layer has no parameter (index out of range).
TrainableSummary apply_freeze(torch::nn::Module& model, const FreezeSpec& spec);

// A table of trainable / total parameters per module (vision tower, projector, embeddings, each LLM layer, final
// norm, lm_head) for the start-of-run printout. Consecutive frozen layers are folded into one row.
std::string trainable_table(torch::nn::Module& model);

}  // namespace vr::train
