// The vision tower as an LVLM uses it: a CLIP/SigLIP VisionTransformer ("vision_model.*") plus the choice of
// which hidden state feeds the projector.
//   select_layer   index into the HF hidden_states tuple (L+1 entries, 0 = embeddings), negative from the end;
//                  LLaVA and Bunny use -2 (output of the second-to-last encoder layer, no post-LayerNorm).
//   select_feature "patch": drop the CLS token (CLIP, LLaVA's default; SigLIP has none, so all tokens);
//                  "cls_patch": keep every token (llava-hf "full").
// Only the layers up to select_layer run unless all hidden states are requested. Frozen by default:
// parameters do not require grad and the forward runs under no-grad, so no autograd graph is kept.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "vr/model/vision_transformer.h"

namespace vr::model {

struct VisionTowerOutput {
  at::Tensor features;                     // [N, F, Dv] selected features (F = num_features())
  std::vector<at::Tensor> hidden_states;   // L+1 entries when requested, else empty
};

class VisionTowerImpl : public torch::nn::Module {
 public:
  VisionTowerImpl(const VisionConfig& c, int64_t select_layer = -2, std::string select_feature = "patch");
  // pixel_values [N,C,S,S] (one image per entry).
  VisionTowerOutput forward(const at::Tensor& pixel_values, bool output_hidden_states = false);

  void set_trainable(bool on);  // requires_grad on every parameter; the forward keeps a graph only when on
  bool trainable() const { return trainable_; }
  int64_t select_layer() const { return select_layer_; }
  const std::string& select_feature() const { return select_feature_; }
  int64_t layers_needed() const;  // encoder layers that must run to reach select_layer
  int64_t num_features() const;   // tokens per image after selection (576 for CLIP-336, 729 for SigLIP-384)
  const VisionConfig& config() const { return vision_model->config(); }

  VisionTransformer vision_model{nullptr};

 private:
  int64_t select_layer_;
  std::string select_feature_;
  bool trainable_ = false;
};
TORCH_MODULE(VisionTower);

}  // namespace vr::model

namespace vr::model {

// A bare vision checkpoint directory: config.json of model_type clip_vision_model / siglip_vision_model, or a
// full CLIPModel / SiglipModel (text_model.*, logit_scale, projections are ignored), weights vision_model.*.
VisionTower load_vision_tower(const std::string& dir, int64_t select_layer = -2,
                              const std::string& select_feature = "patch",
                              std::optional<at::ScalarType> dtype = std::nullopt);

// True for keys of a CLIPModel / SiglipModel checkpoint that a vision tower does not use.
bool is_unused_vision_checkpoint_key(const std::string& name);

}  // namespace vr::model
