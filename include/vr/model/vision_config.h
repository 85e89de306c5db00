// Configuration of a ViT vision encoder in Hugging Face's CLIPVisionConfig / SiglipVisionConfig terms.
// One struct serves both families; `family` switches the few architectural differences
// (class token, pre-LayerNorm, patch-conv bias, activation, attention-pooling head).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace vr::model {

enum class VisionFamily { kClip, kSiglip };

struct VisionConfig {
  VisionFamily family = VisionFamily::kClip;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  int64_t projection_dim = 512;  // CLIP only: kept so to_json round-trips (no projection weights here)
  bool vision_use_head = true;   // SigLIP only: attention-pooling head present

  // HF class defaults (CLIPVisionConfig / SiglipVisionConfig of transformers 4.44).
  static VisionConfig clip_defaults();
  static VisionConfig siglip_defaults();
  // Accepts model_type clip_vision_model / siglip_vision_model, or a full clip / siglip model config
  // (its "vision_config" is used). Omitted keys take the HF class defaults.
  static VisionConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;  // model_type + every field (loadable by transformers)

  bool is_clip() const { return family == VisionFamily::kClip; }
  std::string model_type() const { return is_clip() ? "clip_vision_model" : "siglip_vision_model"; }
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Patches per side: "valid" conv, so a remainder of image_size % patch_size pixels is dropped.
  int64_t grid_size() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid_size() * grid_size(); }
  int64_t num_positions() const { return num_patches() + (is_clip() ? 1 : 0); }  // + CLS for CLIP
  int64_t num_parameters() const;  // every vision_model.* parameter, computed from shapes only
};

// `base` (a family's defaults) with the given widths, depth, heads, input size and patch size.
VisionConfig vision_shape(VisionConfig base, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                          int64_t image_size, int64_t patch_size);

}  // namespace vr::model
