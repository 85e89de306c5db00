// CLIP vision tower vs shared/fixtures/clip_vision (HF CLIPVisionModel, transformers 4.44.2, fp32 CPU).
// Tolerance: model_fp32 (atol 1e-4, rtol 1e-4) from the fixture README; in practice we expect ≤ 1e-6
// (same op order as HF on CPU).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/vision_fixture_check.h"
#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/vision_tower.h"

namespace model_clip_vision_test {

using namespace vr::model;
using vr::test::model_close;

TEST(ClipVision, MatchesHuggingFaceFixture) {
  VR_REQUIRE_FIXTURE("clip_vision");
  vr::test::expect_vision_tower_matches_fixture("clip_vision", 139456);
}

TEST(ClipVision, LlavaFeatureSelectionDropsClsAndRunsOnlyNeededLayers) {
  VR_REQUIRE_FIXTURE("clip_vision");
  const auto dir = vr::test::fixtures_dir() + "/clip_vision";
  auto tower = load_vision_tower(dir, -2, "patch");
  auto pixels = vr::load_safetensors(dir + "/inputs.safetensors").at("pixel_values");
  auto expected = vr::load_safetensors(dir + "/expected.safetensors");
  EXPECT_EQ(tower->layers_needed(), 2);  // hidden_states[-2] of 4 = output of layer 2 (1-based)
  EXPECT_EQ(tower->num_features(), 16);
  auto out = tower->forward(pixels);
  EXPECT_TRUE(out.hidden_states.empty());
  EXPECT_TRUE(model_close(out.features, expected.at("hidden_states.2").slice(1, 1), "hidden_states[-2][:,1:]"));
  EXPECT_FALSE(out.features.requires_grad());  // frozen: no graph

  // Breaking the last layer must not change the selected features: it never runs.
  {
    torch::NoGradGuard g;
    tower->vision_model->encoder->layers->ptr<VisionEncoderLayerImpl>(2)->mlp->fc1->weight.fill_(NAN);
  }
  auto again = tower->forward(pixels);
  EXPECT_TRUE(torch::equal(again.features, out.features));

  auto with_cls = load_vision_tower(dir, -1, "cls_patch")->forward(pixels, /*output_hidden_states=*/true);
  EXPECT_EQ(with_cls.hidden_states.size(), 4u);
  EXPECT_TRUE(model_close(with_cls.features, expected.at("last_hidden_state"), "cls_patch"));
}

TEST(ClipVision, TrainableTowerKeepsGraph) {
  VisionConfig c;
  c.hidden_size = 16; c.intermediate_size = 32; c.num_hidden_layers = 2; c.num_attention_heads = 2;
  c.image_size = 28; c.patch_size = 14;
  VisionTower tower(c);
  auto pixels = torch::randn({1, 3, 28, 28});
  EXPECT_FALSE(tower->forward(pixels).features.requires_grad());
  tower->set_trainable(true);
  auto f = tower->forward(pixels).features;
  ASSERT_TRUE(f.requires_grad());
  f.sum().backward();
  EXPECT_TRUE(tower->vision_model->embeddings->patch_embedding->weight.grad().defined());
}

TEST(ClipVision, RejectsBadInputs) {
  VisionConfig c;
  c.hidden_size = 16; c.intermediate_size = 32; c.num_hidden_layers = 2; c.num_attention_heads = 2;
  c.image_size = 28; c.patch_size = 14;
  VisionTower tower(c);
  EXPECT_THROW(tower->forward(torch::randn({1, 3, 42, 42})), vr::Error);  // wrong image size
  EXPECT_THROW(tower->forward(torch::randn({1, 1, 28, 28})), vr::Error);  // wrong channels
  EXPECT_THROW(VisionTower(c, 5, "patch"), vr::Error);                     // select_layer out of range
  EXPECT_THROW(VisionTower(c, -2, "cls"), vr::Error);                      // unknown select_feature
}

}  // namespace model_clip_vision_test
