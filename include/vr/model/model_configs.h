// Named full-size configurations (values from the hub config.json files, SPEC §1.1, §1.3-1.5).
//   vision: "openai/clip-vit-large-patch14-336", "openai/clip-vit-large-patch14", "google/siglip-so400m-patch14-384"
//   LVLM:   "llava-1.5-7b", "llava-1.5-13b" (llava-hf: vocab 32064 with <image> 32000, <pad> 32001),
//           "bunny-llama-3-8b-v" (Bunny layout: <image> placeholder -200, vocab 128256, model_max_length 2048)
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "vr/model/lvlm.h"

namespace vr::model {

std::optional<VisionConfig> find_named_vision_config(const std::string& name);  // also matches ".../<name>"
LvlmConfig named_lvlm_config(const std::string& name);  // throws listing the known names
std::vector<std::string> named_lvlm_config_names();

}  // namespace vr::model
