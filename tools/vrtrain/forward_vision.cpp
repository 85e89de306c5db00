#include "vrtrain/forward_vision.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/tensor_files.h"
#include "vr/model/layouts.h"
#include "vr/model/vision_tower.h"

namespace vr::cli {

const std::vector<std::string>& lvlm_model_types() {
  static const std::vector<std::string> t{"llava", "llava_llama", "bunny-llama", "bunny_llama"};
  return t;
}

const std::vector<std::string>& vision_model_types() {
  static const std::vector<std::string> t{"clip_vision_model", "siglip_vision_model", "clip", "siglip"};
  return t;
}

const char* forward_vision_help() {
  return "\n"
         "Vision-language checkpoints (model_type llava, llava_llama, bunny-llama; any layout vrtrain loads):\n"
         "  inputs:  input_ids [B,T] with one image placeholder per image (image_token_index, -200 for LLaVA/Bunny)\n"
         "           or the expanded run of image tokens; attention_mask, labels as above;\n"
         "           pixel_values [N,3,S,S] float, one image per placeholder in row-major order (optional)\n"
         "  outputs: logits [B,M,V] and hidden_states.i [B,M,H] over the merged sequence (M = merged length),\n"
         "           loss (with labels), image_features [N,F,H] (after the projector),\n"
         "           vision_hidden_states.i [N,P,Dv] (tower hidden states), merged.attention_mask,\n"
         "           merged.position_ids, merged.labels (int64), image_token_mask (int64)\n"
         "Bare vision encoders (model_type clip_vision_model, siglip_vision_model, clip, siglip):\n"
         "  inputs:  pixel_values [N,3,S,S]\n"
         "  outputs: hidden_states.i (0 = embeddings, CLIP after pre_layrnorm; i = output of layer i),\n"
         "           last_hidden_state (SigLIP: post_layernorm applied), pooler_output (CLIP: post_layernorm of\n"
         "           the CLS token; SigLIP: attention-pooling head), as Hugging Face defines them\n";
}

void put_indexed_fp32(TensorMap& out, const std::string& prefix, const std::vector<at::Tensor>& ts) {
  for (size_t i = 0; i < ts.size(); ++i) out[prefix + "." + std::to_string(i)] = ts[i].to(at::kFloat);
}

TensorMap forward_lvlm(const std::string& model_dir, const TensorMap& inputs, const std::string& inputs_path,
                       at::ScalarType dtype, bool hidden_states) {
  model::LvlmInputs in;
  in.input_ids = vr::require_tensor(inputs, "input_ids", inputs_path).to(at::kLong);
  in.attention_mask = vr::optional_tensor(inputs, "attention_mask");
  in.labels = vr::optional_tensor(inputs, "labels");
  in.pixel_values = vr::optional_tensor(inputs, "pixel_values");
  in.output_hidden_states = hidden_states;
  auto model = model::load_lvlm(model_dir, dtype);
  model->eval();
  torch::NoGradGuard no_grad;
  auto out = model->forward(in);
  TensorMap r{{"logits", out.logits.to(at::kFloat)}};
  put_indexed_fp32(r, "hidden_states", out.hidden_states);
  put_indexed_fp32(r, "vision_hidden_states", out.vision_hidden_states);
  if (out.loss.defined()) r["loss"] = out.loss.to(at::kFloat);
  if (out.image_features.defined()) r["image_features"] = out.image_features.to(at::kFloat);
  r["merged.attention_mask"] = out.merged_attention_mask;
  r["merged.position_ids"] = out.merged_position_ids;
  if (out.merged_labels.defined()) r["merged.labels"] = out.merged_labels;
  r["image_token_mask"] = out.image_token_mask.to(at::kLong);
  return r;
}

TensorMap forward_vision_encoder(const std::string& model_dir, const TensorMap& inputs, const std::string& inputs_path,
                                 at::ScalarType dtype, bool hidden_states) {
  auto pixels = vr::require_tensor(inputs, "pixel_values", inputs_path);
  auto tower = model::load_vision_tower(model_dir, -1, "cls_patch", dtype);
  tower->eval();
  torch::NoGradGuard no_grad;
  auto out = tower->vision_model->forward(pixels, -1, hidden_states);
  TensorMap r{{"last_hidden_state", out.last_hidden_state.to(at::kFloat)}};
  if (out.pooler_output.defined()) r["pooler_output"] = out.pooler_output.to(at::kFloat);
  put_indexed_fp32(r, "hidden_states", out.hidden_states);
  return r;
}

}  // namespace vr::cli
