// LLaVA (llava-hf layout) vs shared/fixtures/llava and layer_scores/llava_siglip (HF LlavaForConditionalGeneration,
// transformers 4.44.2 legacy merge and 4.45.0.dev0 expanded image tokens). Tolerances from the fixture README:
// model_fp32 (1e-4 / 1e-4) for float tensors, exact for masks / labels / position ids, loss rtol 1e-5.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"

namespace model_lvlm_test {

using namespace vr::model;
using vr::test::all_close;
using vr::test::model_close;

namespace {

::testing::AssertionResult exact(const at::Tensor& got, const at::Tensor& exp, const std::string& name) {
  return all_close(got.to(torch::kLong), exp.to(torch::kLong), 0, 0, name);
}

// Rows of `t` [B,M,...] at positions where mask [B,M] is 1, flattened: compares valid positions only.
at::Tensor valid_rows(const at::Tensor& t, const at::Tensor& mask) { return t.index({mask.to(torch::kBool)}); }

// The fixture's inputs under `prefix` ("" or "expanded."), with the images and hidden states requested.
LvlmInputs fixture_inputs(const std::map<std::string, at::Tensor>& in, const std::string& prefix = "") {
  LvlmInputs x;
  x.input_ids = in.at(prefix + "input_ids");
  x.attention_mask = in.at(prefix + "attention_mask");
  x.labels = in.at(prefix + "labels");
  x.pixel_values = in.at("pixel_values");
  x.output_hidden_states = true;
  return x;
}

// Vision features, projected image features, the merged embeddings and the merged mask, labels and positions.
void expect_merge_matches(const LvlmOutput& out, const std::map<std::string, at::Tensor>& exp) {
  EXPECT_TRUE(
      model_close(out.vision_selected_features, exp.at("vision_selected_features"), "vision_selected_features"));
  EXPECT_TRUE(model_close(out.image_features, exp.at("image_features"), "image_features"));
  EXPECT_TRUE(model_close(out.merged_inputs_embeds, exp.at("merged.inputs_embeds"), "merged.inputs_embeds"));
  for (const char* name : {"merged.attention_mask", "merged.labels", "merged.position_ids"}) {
    const std::string field = name;
    const at::Tensor& got = field == "merged.labels"         ? out.merged_labels
                            : field == "merged.position_ids" ? out.merged_position_ids
                                                             : out.merged_attention_mask;
    EXPECT_TRUE(exact(got, exp.at(field), field));
  }
}

// out.<field>[i] against exp "<field>.<i>" for every i (hidden_states / attentions), `count` of them.
void expect_all_layers(const std::vector<at::Tensor>& got, const std::map<std::string, at::Tensor>& exp,
                       const std::string& field, size_t count, const std::string& note = "") {
  ASSERT_EQ(got.size(), count) << field;
  for (size_t i = 0; i < count; ++i) {
    const std::string name = field + "." + std::to_string(i);
    EXPECT_TRUE(model_close(got[i], exp.at(name), name + note));
  }
}

}  // namespace

TEST(Lvlm, LegacyPlaceholderMatchesHuggingFace) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = load_lvlm(vr::test::fixtures_dir() + "/llava");
  auto in = vr::test::read_fixture_tensors("llava/inputs.safetensors");
  auto exp = vr::test::read_fixture_tensors("llava/expected_legacy.safetensors");
  EXPECT_EQ(model->config().image_seq_length(), 16);
  EXPECT_EQ(model->config().num_parameters(), 269008);  // fixture README num_params

  torch::NoGradGuard no_grad;
  auto out = model->forward(fixture_inputs(in));

  EXPECT_EQ(out.logits.size(1), exp.at("merged_seq_len").item<int64_t>());
  expect_merge_matches(out, exp);
  expect_all_layers(out.hidden_states, exp, "hidden_states", 4);
  EXPECT_TRUE(model_close(out.logits, exp.at("logits"), "logits (all positions)"));
  EXPECT_TRUE(all_close(out.loss, exp.at("loss"), 0, 1e-5, "loss"));
  ASSERT_EQ(out.vision_hidden_states.size(), 4u);  // tower: embeddings + 3 layers
  EXPECT_TRUE(model_close(out.vision_hidden_states[2].slice(1, 1), exp.at("vision_selected_features"),
                          "vision_hidden_states[-2]"));
  // Image slots: 16 per row, right after the placeholder position (3 and 2 in the fixture rows).
  auto mask = out.image_token_mask;
  EXPECT_EQ(mask.sum().item<int64_t>(), 32);
  EXPECT_TRUE(mask[0].slice(0, 3, 19).all().item<bool>());
  EXPECT_TRUE(mask[1].slice(0, 2, 18).all().item<bool>());
}

// transformers >= 4.45 with processor-expanded image tokens: every position, padded ones included (the pad
// token's embedding at position id t), equals expected_expanded; valid positions equal the legacy merge.
TEST(Lvlm, ExpandedImageTokensMatchHuggingFaceIncludingPaddedPositions) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = load_lvlm(vr::test::fixtures_dir() + "/llava");
  auto in = vr::test::read_fixture_tensors("llava/inputs.safetensors");
  auto exp = vr::test::read_fixture_tensors("llava/expected_expanded.safetensors");
  auto legacy = vr::test::read_fixture_tensors("llava/expected_legacy.safetensors");
  torch::NoGradGuard no_grad;
  auto out = model->forward(fixture_inputs(in, "expanded."));
  const auto& m = in.at("expanded.attention_mask");
  ASSERT_LT(m.sum().item<int64_t>(), m.numel());  // the fixture has padded positions
  EXPECT_EQ(out.logits.size(1), exp.at("merged_seq_len").item<int64_t>());
  EXPECT_TRUE(exact(out.merged_attention_mask, m, "merged mask vs expanded mask"));
  EXPECT_TRUE(model_close(out.logits, exp.at("logits"), "logits (all positions)"));
  expect_all_layers(out.hidden_states, exp, "hidden_states", 4, " (all positions)");
  EXPECT_TRUE(all_close(out.loss, exp.at("loss"), 0, 1e-5, "loss"));
  EXPECT_TRUE(model_close(valid_rows(out.merged_inputs_embeds, m), valid_rows(legacy.at("merged.inputs_embeds"), m),
                          "merged embeddings (valid positions) as legacy"));
  EXPECT_TRUE(exact(valid_rows(out.merged_labels, m), valid_rows(legacy.at("merged.labels"), m),
                    "merged labels (valid positions) as legacy"));
}

TEST(Lvlm, SiglipBunnyStyleMatchesLayerScoresFixture) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  const auto dir = vr::test::fixtures_dir() + "/layer_scores/llava_siglip";
  auto model = load_lvlm(dir);
  EXPECT_EQ(model->config().vision_feature_select, "patch");  // "full": SigLIP has no CLS, all patches
  EXPECT_EQ(model->config().num_parameters(), 196272);
  auto in = vr::load_safetensors(dir + "/inputs.safetensors");
  auto exp = vr::load_safetensors(dir + "/expected.safetensors");
  LvlmInputs x = fixture_inputs(in);
  x.output_attentions = true;
  torch::NoGradGuard no_grad;
  auto out = model->forward(x);
  expect_merge_matches(out, exp);
  EXPECT_TRUE(exact(out.image_token_mask, exp.at("image_mask"), "image_mask"));
  expect_all_layers(out.hidden_states, exp, "hidden_states", 6);
  expect_all_layers(out.attentions, exp, "attentions", 5);
  EXPECT_TRUE(model_close(out.logits, exp.at("logits"), "logits"));
  EXPECT_TRUE(all_close(out.loss, exp.at("loss"), 0, 1e-5, "loss"));
}

TEST(Lvlm, FrozenTowerKeepsNoGraphButProjectorGetsGradients) {
  VR_REQUIRE_FIXTURE("llava");
  const auto dir = vr::test::fixtures_dir() + "/llava";
  auto model = load_lvlm(dir);
  auto in = vr::load_safetensors(dir + "/inputs.safetensors");
  LvlmInputs x = fixture_inputs(in);
  x.output_hidden_states = false;
  auto out = model->forward(x);
  EXPECT_FALSE(out.vision_selected_features.requires_grad());
  out.loss.backward();
  EXPECT_TRUE(model->multi_modal_projector->linear_1->weight.grad().defined());
  for (auto& p : model->vision_tower->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Lvlm, ConfigJsonRoundTrip) {
  VR_REQUIRE_FIXTURE("llava");
  auto c = LvlmConfig::from_json(vr::load_config_json(vr::test::fixtures_dir() + "/llava"));
  EXPECT_EQ(c.image_token_index, 256);
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");  // CLIPVisionConfig default, omitted in the file
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  auto again = LvlmConfig::from_json(c.to_json());
  EXPECT_EQ(again.to_json(), c.to_json());
  auto j = c.to_json();
  j["vision_feature_select_strategy"] = "cls";
  EXPECT_THROW(LvlmConfig::from_json(j), vr::Error);
}

// transformers' "default" drops the first feature. That is CLIP's CLS token, but a real patch for SigLIP (Bunny's
// "patch" keeps all 729), so the mapping depends on the tower, both ways.
TEST(Lvlm, FeatureSelectStrategyDependsOnWhetherTheTowerHasCls) {
  VR_REQUIRE_FIXTURE("llava");
  auto c = LvlmConfig::from_json(vr::load_config_json(vr::test::fixtures_dir() + "/llava"));
  ASSERT_TRUE(c.vision.is_clip());
  c.vision_feature_select = "patch";
  EXPECT_EQ(c.to_json()["vision_feature_select_strategy"], "default");
  c.vision_feature_select = "cls_patch";
  EXPECT_EQ(c.to_json()["vision_feature_select_strategy"], "full");
  auto j = c.to_json();
  j["vision_config"]["model_type"] = "siglip_vision_model";
  auto s = LvlmConfig::from_json(j);
  ASSERT_FALSE(s.vision.is_clip());
  EXPECT_EQ(s.vision_feature_select, "patch");
  for (std::string sel : {"patch", "cls_patch"}) {
    s.vision_feature_select = sel;
    EXPECT_EQ(s.to_json()["vision_feature_select_strategy"], "full") << sel;
  }
  j["vision_feature_select_strategy"] = "default";  // would drop a SigLIP patch: not a model vrtrain runs
  EXPECT_THROW(LvlmConfig::from_json(j), vr::Error);
}

}  // namespace model_lvlm_test
