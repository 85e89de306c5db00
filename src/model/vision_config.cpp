#include "vr/model/vision_config.h"

#include <nlohmann/json.hpp>

#include "vr/core/error.h"

namespace vr::model {

VisionConfig VisionConfig::clip_defaults() { return VisionConfig{}; }

VisionConfig VisionConfig::siglip_defaults() {
  VisionConfig c;
  c.family = VisionFamily::kSiglip;
  c.patch_size = 16;
  c.hidden_act = "gelu_pytorch_tanh";
  c.layer_norm_eps = 1e-6;
  return c;
}

namespace {

template <typename T>
void read(const nlohmann::json& j, const char* key, T& v) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    v = j[key].get<T>();
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("vision config: key '{}' has the wrong type ({})", key, e.what());
  }
}

}  // namespace

VisionConfig VisionConfig::from_json(const nlohmann::json& j_in) {
  VR_CHECK(j_in.is_object(), "vision config: expected a JSON object");
  std::string type = j_in.value("model_type", "");
  const nlohmann::json* j = &j_in;
  if (type == "clip" || type == "siglip") {  // a full CLIPModel / SiglipModel config: use its vision part
    VR_CHECK(j_in.contains("vision_config") && j_in["vision_config"].is_object(),
             "vision config: model_type '{}' without a 'vision_config' object", type);
    j = &j_in["vision_config"];
    type += "_vision_model";
  }
  VisionConfig c;
  if (type == "clip_vision_model") {
    c = clip_defaults();
  } else if (type == "siglip_vision_model") {
    c = siglip_defaults();
  } else {
    VR_FAIL("vision config: unsupported model_type '{}' (expected clip_vision_model, siglip_vision_model, clip or "
            "siglip)",
            type);
  }
  read(*j, "hidden_size", c.hidden_size);
  read(*j, "intermediate_size", c.intermediate_size);
  read(*j, "num_hidden_layers", c.num_hidden_layers);
  read(*j, "num_attention_heads", c.num_attention_heads);
  read(*j, "num_channels", c.num_channels);
  read(*j, "image_size", c.image_size);
  read(*j, "patch_size", c.patch_size);
  read(*j, "hidden_act", c.hidden_act);
  read(*j, "layer_norm_eps", c.layer_norm_eps);
  read(*j, "projection_dim", c.projection_dim);
  read(*j, "vision_use_head", c.vision_use_head);

  VR_CHECK(c.hidden_size > 0 && c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0,
           "vision config: hidden_size {} is not a positive multiple of num_attention_heads {}", c.hidden_size,
           c.num_attention_heads);
  VR_CHECK(c.num_hidden_layers > 0 && c.intermediate_size > 0 && c.num_channels > 0,
           "vision config: num_hidden_layers, intermediate_size and num_channels must be positive");
  VR_CHECK(c.patch_size > 0 && c.image_size >= c.patch_size,
           "vision config: image_size {} must be at least patch_size {}", c.image_size, c.patch_size);
  VR_CHECK(c.hidden_act == "quick_gelu" || c.hidden_act == "gelu" || c.hidden_act == "gelu_pytorch_tanh" ||
               c.hidden_act == "gelu_new",
           "vision config: unsupported hidden_act '{}' (quick_gelu, gelu, gelu_pytorch_tanh, gelu_new)", c.hidden_act);
  return c;
}

nlohmann::json VisionConfig::to_json() const {
  nlohmann::json j;
  j["model_type"] = model_type();
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_channels"] = num_channels;
  j["image_size"] = image_size;
  j["patch_size"] = patch_size;
  j["hidden_act"] = hidden_act;
  j["layer_norm_eps"] = layer_norm_eps;
  j["attention_dropout"] = 0.0;
  if (is_clip()) {
    j["projection_dim"] = projection_dim;
  } else {
    j["vision_use_head"] = vision_use_head;
  }
  return j;
}

int64_t VisionConfig::num_parameters() const {
  const int64_t H = hidden_size, I = intermediate_size, C = num_channels, p = patch_size;
  const int64_t layer_norm = 2 * H;                      // weight + bias
  const int64_t linear_hh = H * H + H;                   // weight + bias
  const int64_t mlp = (I * H + I) + (H * I + H);         // fc1 + fc2
  const int64_t layer = 4 * linear_hh + 2 * layer_norm + mlp;
  int64_t n = H * C * p * p + num_positions() * H;       // patch conv weight + position embedding
  if (is_clip()) {
    n += H;             // class_embedding
    n += layer_norm;    // pre_layrnorm
  } else {
    n += H;             // patch conv bias
  }
  n += num_hidden_layers * layer + layer_norm;           // encoder + post_layernorm
  if (!is_clip() && vision_use_head) {
    // probe [1,1,H] + packed q/k/v in_proj [3H,H] + bias [3H] + out_proj + layernorm + mlp
    n += H + (3 * H * H + 3 * H) + linear_hh + layer_norm + mlp;
  }
  return n;
}

VisionConfig vision_shape(VisionConfig base, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                          int64_t image_size, int64_t patch_size) {
  base.hidden_size = hidden;
  base.intermediate_size = intermediate;
  base.num_hidden_layers = layers;
  base.num_attention_heads = heads;
  base.image_size = image_size;
  base.patch_size = patch_size;
  return base;
}

}  // namespace vr::model
