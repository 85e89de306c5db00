// Tensor names between checkpoint layouts (original LLaVA/Bunny, llava-hf, transformers >= 4.52, PEFT adapters):
// pure string functions, used by the layouts (vr/model/layouts.h) and by the LoRA adapter files (vr/model/lora.h).
#pragma once
#include <string>

namespace vr::model {

// Name mapping (pure functions, one place): original LLaVA/Bunny → llava-hf, and back. Returns "" for keys that
// carry no parameter (rotary inv_freq, position_ids buffers).
std::string llava_to_hf_name(const std::string& name);
std::string hf_to_llava_name(const std::string& name, bool linear_projector = false);
// "0.weight" / "2.bias" / "weight" (after "mm_projector.") → multi_modal_projector.linear_{1,2}.* ("" if neither).
std::string projector_suffix_to_hf(const std::string& suffix);
// Non-persistent buffers some checkpoints carry (rotary inv_freq, position_ids).
bool is_buffer_checkpoint_key(const std::string& name);
// transformers >= 4.52 in-memory names (model.language_model.*, ...) → classic llava-hf on-disk names.
std::string new_hf_to_hf_name(const std::string& name);
// PEFT adapter files: the LoRA tensor "<module>.lora_A.weight" of a model is stored as
// "base_model.model.<module>.lora_A.weight" (PEFT's save_pretrained). peft_to_hf_name strips that prefix and the
// adapter name of in-memory PEFT keys ("<module>.lora_A.default.weight"); module names stay as the file has them.
std::string hf_to_peft_name(const std::string& name);
std::string peft_to_hf_name(const std::string& key);

}  // namespace vr::model
