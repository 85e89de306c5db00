// Name mapping between checkpoint layouts (vr/model/layout_names.h): pure string functions.
#include <string>

#include "vr/model/layout_names.h"
#include "vr/core/strings.h"

namespace vr::model {

namespace {

const std::string kLinear1 = "multi_modal_projector.linear_1.", kLinear2 = "multi_modal_projector.linear_2.";

}  // namespace

bool is_buffer_checkpoint_key(const std::string& name) {
  return ends_with(name, "rotary_emb.inv_freq") || ends_with(name, "position_ids");
}

std::string projector_suffix_to_hf(const std::string& rest) {  // "0.weight" / "2.bias" / "weight"
  if (starts_with(rest, "0.")) return kLinear1 + after(rest, "0.");
  if (starts_with(rest, "2.")) return kLinear2 + after(rest, "2.");
  if (rest == "weight" || rest == "bias") return kLinear1 + rest;
  return "";
}

// ---- name mapping -------------------------------------------------------------------------------------

std::string llava_to_hf_name(const std::string& name) {
  if (is_buffer_checkpoint_key(name)) return "";
  if (starts_with(name, "model.mm_projector.")) return projector_suffix_to_hf(after(name, "model.mm_projector."));
  if (starts_with(name, "model.vision_tower.vision_tower.")) return "vision_tower." + after(name, "model.vision_tower.vision_tower.");
  if (starts_with(name, "model.")) return "language_model." + name;
  if (name == "lm_head.weight") return "language_model.lm_head.weight";
  return name;
}

std::string hf_to_llava_name(const std::string& name, bool linear_projector) {
  if (starts_with(name, kLinear1)) return "model.mm_projector." + std::string(linear_projector ? "" : "0.") + after(name, kLinear1);
  if (starts_with(name, kLinear2)) return "model.mm_projector.2." + after(name, kLinear2);
  if (starts_with(name, "vision_tower.")) return "model.vision_tower.vision_tower." + after(name, "vision_tower.");
  if (starts_with(name, "language_model.model.")) return after(name, "language_model.");
  if (name == "language_model.lm_head.weight") return "lm_head.weight";
  return name;
}

const std::string kPeftPrefix = "base_model.model.";

std::string hf_to_peft_name(const std::string& name) { return kPeftPrefix + name; }

std::string peft_to_hf_name(const std::string& key) {
  std::string name = starts_with(key, kPeftPrefix) ? after(key, kPeftPrefix) : key;
  for (const std::string ab : {".lora_A", ".lora_B"})
    if (ends_with(name, ab + ".default.weight"))
      return name.substr(0, name.size() - (ab + ".default.weight").size()) + ab + ".weight";
  return name;
}

std::string new_hf_to_hf_name(const std::string& name) {
  if (starts_with(name, "model.language_model.")) return "language_model.model." + after(name, "model.language_model.");
  if (starts_with(name, "model.vision_tower.")) return after(name, "model.");
  if (starts_with(name, "model.multi_modal_projector.")) return after(name, "model.");
  if (name == "lm_head.weight") return "language_model.lm_head.weight";
  return name;
}

}  // namespace vr::model
