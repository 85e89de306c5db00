// `vrtrain forward` for vision checkpoints (called from cmd_forward.cpp's dispatch on config.json model_type):
//   LVLM (llava-hf "llava", LLaVA/Bunny "llava_llama", "bunny-llama", ...): merged-sequence outputs
//   bare vision encoders ("clip_vision_model", "siglip_vision_model", "clip", "siglip"): tower outputs
#pragma once
#include <map>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace vr::cli {

using TensorMap = std::map<std::string, at::Tensor>;

// model_type values handled here.
const std::vector<std::string>& lvlm_model_types();
const std::vector<std::string>& vision_model_types();

TensorMap forward_lvlm(const std::string& model_dir, const TensorMap& inputs, const std::string& inputs_path,
                       at::ScalarType dtype, bool hidden_states);
TensorMap forward_vision_encoder(const std::string& model_dir, const TensorMap& inputs, const std::string& inputs_path,
                                 at::ScalarType dtype, bool hidden_states);

// Writes ts[i] as "<prefix>.<i>" in fp32 (hidden_states.0, ...), the naming of every forward output file.
void put_indexed_fp32(TensorMap& out, const std::string& prefix, const std::vector<at::Tensor>& ts);

// Help text lines describing these inputs/outputs (appended to `vrtrain forward --help`).
const char* forward_vision_help();

}  // namespace vr::cli
