// The vision-language model (LLaVA-1.5, Bunny): vision tower → projector → image features spliced into the
// Llama token sequence. Module names are llava-hf's, so named_parameters() equal the llava-hf on-disk names:
//   vision_tower.vision_model.*   multi_modal_projector.linear_{1,2}.*   language_model.model.*
//   language_model.lm_head.weight
// Shapes: B rows, T input tokens, N images, F features per image, Dv vision width, H LLM width, M merged length.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>

#include "vr/model/llama.h"
#include "vr/model/projector.h"
#include "vr/model/vision_tower.h"

namespace vr::model {

constexpr int64_t kLlavaImageTokenIndex = -200;  // LLaVA/Bunny IMAGE_TOKEN_INDEX placeholder id

struct LvlmConfig {
  LlamaConfig text;
  VisionConfig vision;
  std::string projector_type = "mlp2x_gelu";
  int64_t image_token_index = 32000;            // llava-hf; LLaVA/Bunny layouts use -200
  int64_t vision_feature_layer = -2;            // index into the tower's hidden_states
  std::string vision_feature_select = "patch";  // patch (drop CLS) | cls_patch (llava-hf "full")
  std::optional<int64_t> pad_token_id;
  int64_t model_max_length = 0;                 // truncation of the merged sequence; 0 = none (llava-hf)
  std::string vision_tower_name;                // LLaVA/Bunny mm_vision_tower (hub name or path), informational

  int64_t image_seq_length() const;  // features per image after selection (576 CLIP-336, 729 SigLIP-384)
  // llava-hf config.json (model_type "llava"); omitted keys take transformers' LlavaConfig defaults
  // (CLIP ViT-L/14-336 vision tower, Llama text model). Also reads the optional vrtrain key
  // "tokenizer_model_max_length".
  static LvlmConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;   // llava-hf config.json that transformers' LlavaForConditionalGeneration loads
  int64_t num_parameters() const;   // vision tower + projector + LLM, from shapes only
};

struct LvlmInputs {
  at::Tensor input_ids;       // [B,T] int64 with one placeholder per image, or the expanded run of image tokens
  at::Tensor attention_mask;  // [B,T]; undefined = all ones
  at::Tensor labels;          // [B,T] int64 (-100 ignored); undefined = no loss
  at::Tensor pixel_values;    // [N,3,S,S], one image per placeholder in row-major order; undefined = text only
  bool output_hidden_states = false;  // LLM hidden states (L+1) and vision tower hidden states
  bool output_attentions = false;     // per-layer LLM attention probabilities [B,nH,M,M]
  bool return_logits = true;          // false with labels (training): loss on supervised positions only, no logits
  // Packed rows (data.packing; data/packing.h collate_packed): [B,T] int64, each token's sample number within its
  // row, -1 at padding. Each sample then behaves as it would alone: its images land at its own placeholders (the
  // merge is per token anyway), RoPE positions restart at its first slot, attention stays within it
  // (segment_attention.h). Undefined: unpacked. Needs one placeholder per image (vrtrain's -200) or text only.
  at::Tensor segment_ids;
  // ShortV (selection strategy layer_contribution): LLM decoder layer i leaves the image slots' hidden states as
  // they came in (LlamaInputs::freeze_layer with the merged image mask). -1: off.
  int64_t freeze_image_tokens_in_layer = -1;
};

struct LvlmOutput {
  at::Tensor logits;                          // [B,M,V] float32
  at::Tensor loss;                            // [] shifted CE over merged labels; undefined without labels
  int64_t supervised_tokens = -1;             // positions the loss averages over (when return_logits is false)
  std::vector<at::Tensor> hidden_states;      // LLM, over the merged sequence (Llama convention)
  std::vector<at::Tensor> attentions;         // LLM, when requested
  at::Tensor image_features;                  // [N,F,H] after the projector
  at::Tensor vision_selected_features;        // [N,F,Dv] tower features fed to the projector
  std::vector<at::Tensor> vision_hidden_states;  // tower hidden states (L_v+1) when requested
  at::Tensor image_token_mask;                // [B,M] bool: merged slots holding image features
  at::Tensor merged_attention_mask;           // [B,M] int64
  at::Tensor merged_position_ids;             // [B,M] int64
  at::Tensor merged_labels;                   // [B,M] int64 (undefined without labels)
  at::Tensor merged_inputs_embeds;            // [B,M,H] what the LLM received
};

class LvlmImpl : public torch::nn::Module {
 public:
  explicit LvlmImpl(const LvlmConfig& c);
  LvlmOutput forward(const LvlmInputs& in);
  // Tower features → projector: pixel_values [N,3,S,S] → [N,F,H] (tower output in `selected`, when given).
  at::Tensor encode_images(const at::Tensor& pixel_values, at::Tensor* selected = nullptr,
                           std::vector<at::Tensor>* vision_hidden_states = nullptr);
  const LvlmConfig& config() const { return config_; }
  // Caps the merged sequence (text + image features) at n tokens, 0 = no cap: what LLaVA's training does with
  // model.config.tokenizer_model_max_length = model_max_length. Saved configs carry it.
  void set_model_max_length(int64_t n);

  VisionTower vision_tower{nullptr};
  Projector multi_modal_projector{nullptr};
  LlamaForCausalLM language_model{nullptr};

 private:
  LvlmConfig config_;
};
TORCH_MODULE(Lvlm);

}  // namespace vr::model
