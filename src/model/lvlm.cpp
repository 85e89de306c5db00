#include "vr/model/lvlm.h"

#include "vr/model/model_configs.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/shape_string.h"
#include "vr/core/error.h"
#include "vr/model/image_merge.h"
#include "vr/model/packed_segments.h"

namespace vr::model {

// ---- config ------------------------------------------------------------------------------------------

int64_t LvlmConfig::image_seq_length() const {
  const bool drop_cls = vision.is_clip() && vision_feature_select == "patch";
  return vision.num_positions() - (drop_cls ? 1 : 0);
}

// transformers' LlavaConfig default vision tower: CLIP ViT-L/14-336 (defined with the other named configs).
static VisionConfig llava_default_vision() { return *find_named_vision_config("openai/clip-vit-large-patch14-336"); }

LvlmConfig LvlmConfig::from_json(const nlohmann::json& j) {
  VR_CHECK(j.is_object(), "llava config: expected a JSON object");
  const std::string type = j.value("model_type", "");
  VR_CHECK(type == "llava", "llava config: model_type is '{}', expected 'llava' (llava-hf layout)", type);
  LvlmConfig c;
  try {
    nlohmann::json text = j.contains("text_config") && !j["text_config"].is_null() ? j["text_config"]
                                                                                      : nlohmann::json::object();
    const std::string text_type = text.value("model_type", "llama");
    VR_CHECK(text_type == "llama", "text_config: model_type '{}' is not supported (llama only)", text_type);
    c.text = LlamaConfig::from_json(text);
    if (j.contains("vision_config") && !j["vision_config"].is_null()) {
      nlohmann::json v = j["vision_config"];
      if (!v.contains("model_type")) v["model_type"] = "clip_vision_model";  // LlavaConfig's default family
      c.vision = VisionConfig::from_json(v);
    } else {
      c.vision = llava_default_vision();
    }
    c.image_token_index = j.value("image_token_index", int64_t{32000});
    const auto act = j.value("projector_hidden_act", std::string("gelu"));
    VR_CHECK(act == "gelu", "projector_hidden_act '{}' is not supported (gelu)", act);
    c.projector_type = j.value("projector_type", std::string("mlp2x_gelu"));  // vrtrain extension key
    VR_CHECK(!j.contains("vision_feature_layer") || j["vision_feature_layer"].is_number_integer(),
             "vision_feature_layer must be one integer (lists of layers are not supported)");
    c.vision_feature_layer = j.value("vision_feature_layer", int64_t{-2});
    const auto strategy = j.value("vision_feature_select_strategy", std::string("default"));
    VR_CHECK(strategy == "default" || strategy == "full",
             "vision_feature_select_strategy '{}' is not supported (default, full)", strategy);
    // transformers: "default" drops the first feature, "full" keeps all. CLIP's first token is CLS, so "default"
    // is vrtrain's "patch"; SigLIP has no CLS, so all its tokens ("full") is "patch", and "default" (drop a real
    // patch) is a model vrtrain does not run.
    if (c.vision.is_clip()) {
      c.vision_feature_select = strategy == "default" ? "patch" : "cls_patch";
    } else {
      VR_CHECK(strategy == "full",
               "vision_feature_select_strategy 'default' with a {} tower (no CLS token) would drop a real patch; "
               "only 'full' is supported for it",
               c.vision.model_type());
      c.vision_feature_select = "patch";
    }
    if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
      c.pad_token_id = j["pad_token_id"].get<int64_t>();
    c.model_max_length = j.value("tokenizer_model_max_length", int64_t{0});
    c.vision_tower_name = j.value("mm_vision_tower", std::string());
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("llava config: {}", e.what());
  } catch (const Error&) {
    rethrow_with_context("llava config");
  }
  return c;
}

nlohmann::json LvlmConfig::to_json() const {
  nlohmann::json j;
  j["architectures"] = {"LlavaForConditionalGeneration"};
  j["model_type"] = "llava";
  j["ignore_index"] = -100;
  j["image_token_index"] = image_token_index;
  j["image_seq_length"] = image_seq_length();
  j["projector_hidden_act"] = "gelu";
  if (projector_type != "mlp2x_gelu") j["projector_type"] = projector_type;  // not loadable by transformers
  j["vision_feature_layer"] = vision_feature_layer;
  // Drop the first feature only where it is a CLS token (CLIP "patch"); SigLIP keeps every patch either way.
  j["vision_feature_select_strategy"] = vision.is_clip() && vision_feature_select == "patch" ? "default" : "full";
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  if (model_max_length > 0) j["tokenizer_model_max_length"] = model_max_length;
  if (!vision_tower_name.empty()) j["mm_vision_tower"] = vision_tower_name;
  j["text_config"] = text.to_json();
  j["vision_config"] = vision.to_json();
  j["tie_word_embeddings"] = text.tie_word_embeddings;
  return j;
}

int64_t LvlmConfig::num_parameters() const {
  return vision.num_parameters() + projector_num_parameters(projector_type, vision.hidden_size, text.hidden_size) +
         text.num_parameters();
}

// ---- model -------------------------------------------------------------------------------------------

LvlmImpl::LvlmImpl(const LvlmConfig& c) : config_(c) {
  vision_tower = register_module("vision_tower", VisionTower(c.vision, c.vision_feature_layer, c.vision_feature_select));
  multi_modal_projector =
      register_module("multi_modal_projector", Projector(c.projector_type, c.vision.hidden_size, c.text.hidden_size));
  language_model = register_module("language_model", LlamaForCausalLM(c.text));
}

void LvlmImpl::set_model_max_length(int64_t n) {
  VR_CHECK(n >= 0, "model_max_length must be >= 0 (0: no cap), got {}", n);
  config_.model_max_length = n;
}

at::Tensor LvlmImpl::encode_images(const at::Tensor& pixel_values, at::Tensor* selected,
                                   std::vector<at::Tensor>* vision_hidden_states) {
  auto v = vision_tower->forward(pixel_values, vision_hidden_states != nullptr);
  if (selected) *selected = v.features;
  if (vision_hidden_states) *vision_hidden_states = std::move(v.hidden_states);
  return multi_modal_projector(v.features);
}

LvlmOutput LvlmImpl::forward(const LvlmInputs& in) {
  VR_CHECK(in.input_ids.defined() && in.input_ids.dim() == 2, "lvlm: input_ids must be [B,T]");
  LvlmOutput out;
  if (in.pixel_values.defined() && in.pixel_values.numel() > 0)
    out.image_features = encode_images(in.pixel_values, &out.vision_selected_features,
                                       in.output_hidden_states ? &out.vision_hidden_states : nullptr);

  // Embed the text. Image tokens (maybe -200, not a vocabulary id) get id 0: their embeddings are replaced.
  // Padded tokens keep their own embedding (the expanded and text-only layouts keep it at padded slots, as HF
  // does), or id 0 when they are not a vocabulary id. Every valid id must be in the vocabulary.
  const int64_t V = config_.text.vocab_size;
  // -200 (LLaVA/Bunny IMAGE_TOKEN_INDEX, what vrtrain's data pipeline emits) means an image slot whatever this
  // checkpoint's image_token_index is, so one batch works with every layout.
  auto ids = in.input_ids.to(torch::kLong);
  if (config_.image_token_index != kLlavaImageTokenIndex)
    ids = ids.masked_fill(ids.eq(kLlavaImageTokenIndex), config_.image_token_index);
  auto text_ids = ids.masked_fill(ids.eq(config_.image_token_index), 0);
  auto outside = text_ids.lt(0).logical_or(text_ids.ge(V));
  if (in.attention_mask.defined()) {
    auto padded = in.attention_mask.eq(0);
    text_ids = text_ids.masked_fill(padded.logical_and(outside), 0);
    outside = outside.logical_and(padded.logical_not());
  }
  VR_CHECK(!outside.any().item<bool>(), "lvlm: input_ids outside the vocabulary [0, {}) (image token id is {})", V,
           config_.image_token_index);
  auto text_embeds = language_model->embed(text_ids);

  auto merged = merge_image_features(ids, text_embeds, in.attention_mask, in.labels, out.image_features,
                                     config_.image_token_index, config_.model_max_length, MergeLayout::kAsHuggingFace);

  LlamaInputs li;
  li.inputs_embeds = merged.inputs_embeds;
  li.attention_mask = merged.attention_mask;
  li.position_ids = merged.position_ids;
  if (in.segment_ids.defined()) {
    VR_CHECK(!in.output_attentions, "lvlm: packed rows give no attention probabilities");
    // Slots per image token: F for one placeholder per image (what vrtrain's collator emits); text-only rows
    // keep one slot per token either way.
    const auto is_image = ids.eq(config_.image_token_index);
    const int64_t n_image_tokens = is_image.sum().item<int64_t>();
    const int64_t N = out.image_features.defined() ? out.image_features.size(0) : 0;
    VR_CHECK(n_image_tokens == N, "lvlm: packed rows need one placeholder per image ({} image tokens, {} images)",
             n_image_tokens, N);
    const int64_t F = N > 0 ? out.image_features.size(1) : 1;
    const auto valid = in.attention_mask.defined() ? in.attention_mask.ne(0) : at::ones_like(is_image);
    auto segs = std::make_shared<PackedSegments>(
        merged_segments(in.segment_ids, is_image, F, valid, merged.lengths));
    merged.position_ids = segment_position_ids(*segs, merged.inputs_embeds.size(1), merged.inputs_embeds.device());
    li.position_ids = merged.position_ids;
    li.segments = std::move(segs);
  }
  li.labels = merged.labels;  // -100 on image and padded slots: the LLaVA loss equals Llama's shifted CE
  li.output_hidden_states = in.output_hidden_states;
  li.output_attentions = in.output_attentions;
  li.return_logits = in.return_logits;
  if (in.freeze_image_tokens_in_layer >= 0) {
    li.freeze_layer = in.freeze_image_tokens_in_layer;
    li.freeze_positions = merged.image_token_mask;
  }
  auto lo = language_model->forward(li);

  out.logits = lo.logits;
  out.loss = lo.loss;
  out.supervised_tokens = lo.supervised_tokens;
  out.hidden_states = std::move(lo.hidden_states);
  out.attentions = std::move(lo.attentions);
  out.image_token_mask = merged.image_token_mask;
  out.merged_attention_mask = merged.attention_mask;
  out.merged_position_ids = merged.position_ids;
  out.merged_labels = merged.labels;
  out.merged_inputs_embeds = merged.inputs_embeds;
  return out;
}

}  // namespace vr::model
