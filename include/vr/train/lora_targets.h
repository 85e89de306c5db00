// Which linear layers a LoRA run adapts: lora.targets (projection names as PEFT takes them) on the tuned layers,
// as full module paths of the llava-hf model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vr::train {

// {"q_proj","down_proj"} on layers {1,5} →
//   language_model.model.layers.1.self_attn.q_proj, language_model.model.layers.1.mlp.down_proj, ... (layer-major).
// gate_proj / up_proj / down_proj live in the MLP, every other name in self-attention.
std::vector<std::string> lora_target_modules(const std::vector<int64_t>& layers,
                                             const std::vector<std::string>& targets);

}  // namespace vr::train
