// The model a run leaves behind (<output_dir>/final/): an HF checkpoint transformers and `vrtrain forward`
// load, with the tokenizer and image processor files of the model the run started from.
#pragma once
#include <string>

namespace vr::model {
class Lvlm;
}

namespace vr::train {

// Full weights (method full); for LoRA the merged weights in <dir> and the unmerged PEFT adapter in
// <dir>/adapter (the in-memory model is unmerged again afterwards, so training could go on).
void export_lvlm(model::Lvlm& model, const std::string& dir, bool lora, const std::string& source_model_dir);

}  // namespace vr::train
