#include "vr/train/lora_targets.h"

#include <fmt/format.h>

namespace vr::train {

std::vector<std::string> lora_target_modules(const std::vector<int64_t>& layers,
                                             const std::vector<std::string>& targets) {
  std::vector<std::string> out;
  for (int64_t l : layers)
    for (const auto& t : targets) {
      const bool mlp = t == "gate_proj" || t == "up_proj" || t == "down_proj";
      out.push_back(fmt::format("language_model.model.layers.{}.{}.{}", l, mlp ? "mlp" : "self_attn", t));
    }
  return out;
}

}  // namespace vr::train
