#include "vr/model/vision_tower.h"

#include <torch/torch.h>

#include "vr/core/error.h"

namespace vr::model {

VisionTowerImpl::VisionTowerImpl(const VisionConfig& c, int64_t select_layer, std::string select_feature)
    : select_layer_(select_layer), select_feature_(std::move(select_feature)) {
  VR_CHECK(select_feature_ == "patch" || select_feature_ == "cls_patch",
           "vision tower: select_feature must be 'patch' or 'cls_patch', got '{}'", select_feature_);
  const int64_t n_states = c.num_hidden_layers + 1;
  VR_CHECK(select_layer >= -n_states && select_layer < n_states,
           "vision tower: select_layer {} out of range for {} hidden states", select_layer, n_states);
  vision_model = register_module("vision_model", VisionTransformer(c));
  set_trainable(false);
}

void VisionTowerImpl::set_trainable(bool on) {
  trainable_ = on;
  for (auto& p : parameters()) p.set_requires_grad(on);
}

int64_t VisionTowerImpl::layers_needed() const {
  const int64_t n_states = config().num_hidden_layers + 1;
  return select_layer_ < 0 ? n_states + select_layer_ : select_layer_;
}

int64_t VisionTowerImpl::num_features() const {
  const bool drop_cls = config().is_clip() && select_feature_ == "patch";
  return config().num_positions() - (drop_cls ? 1 : 0);
}

VisionTowerOutput VisionTowerImpl::forward(const at::Tensor& pixel_values, bool output_hidden_states) {
  // Frozen: no graph. (NoGradGuard is thread-local and restores the previous mode on exit.)
  c10::optional<torch::NoGradGuard> no_grad;
  if (!trainable_) no_grad.emplace();
  const int64_t k = layers_needed();
  VisionTowerOutput out;
  at::Tensor selected;
  if (output_hidden_states) {
    auto v = vision_model->forward(pixel_values, -1, /*keep_hidden_states=*/true);
    selected = v.hidden_states[k];
    out.hidden_states = std::move(v.hidden_states);
  } else {
    selected = vision_model->forward(pixel_values, k, /*keep_hidden_states=*/false).encoder_output;
  }
  if (config().is_clip() && select_feature_ == "patch") selected = selected.slice(1, 1);  // drop CLS
  out.features = selected;
  return out;
}

}  // namespace vr::model

// ---- loading a bare vision checkpoint ---------------------------------------------------------------

#include <nlohmann/json.hpp>

#include "vr/model/module_state.h"
#include "vr/core/torch_pickle.h"

namespace vr::model {

bool is_unused_vision_checkpoint_key(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return starts("text_model.") || starts("visual_projection.") || starts("text_projection.") || name == "logit_scale" ||
         name == "logit_bias" || ends("position_ids");
}

VisionTower load_vision_tower(const std::string& dir, int64_t select_layer, const std::string& select_feature,
                              std::optional<at::ScalarType> dtype) {
  try {
    auto config = VisionConfig::from_json(load_config_json(dir));
    VisionTower tower(config, select_layer, select_feature);
    auto state = load_tensors(dir);
    load_module_state(*tower, state, dir, dtype, is_unused_vision_checkpoint_key);
    tower->set_trainable(false);
    return tower;
  } catch (const Error&) {
    rethrow_with_context("loading vision tower '" + dir + "'");
  }
}

}  // namespace vr::model
