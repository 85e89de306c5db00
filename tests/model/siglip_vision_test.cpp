// SigLIP vision tower vs shared/fixtures/siglip_vision (HF SiglipVisionModel with the attention-pooling head;
// image 62 px with patch 14: the "valid" conv drops 6 pixel rows/cols). Tolerance model_fp32 (1e-4 / 1e-4);
// the README reports ~7e-7 on pooler_output for a plain-torch re-implementation (op order in MHA).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "model/vision_fixture_check.h"
#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/tensor_files.h"
#include "vr/core/safetensors.h"
#include "vr/model/vision_tower.h"

namespace model_siglip_vision_test {

using namespace vr::model;
using vr::test::model_close;

TEST(SiglipVision, MatchesHuggingFaceFixture) {
  VR_REQUIRE_FIXTURE("siglip_vision");
  vr::test::expect_vision_tower_matches_fixture("siglip_vision", 197440);
}

TEST(SiglipVision, BunnyFeatureIsSecondToLastHiddenStateWithAllTokens) {
  VR_REQUIRE_FIXTURE("siglip_vision");
  const auto dir = vr::test::fixtures_dir() + "/siglip_vision";
  auto tower = load_vision_tower(dir);  // defaults: -2, "patch" (= every token: SigLIP has no CLS)
  auto pixels = vr::load_safetensors(dir + "/inputs.safetensors").at("pixel_values");
  auto expected = vr::load_safetensors(dir + "/expected.safetensors");
  auto f = tower->forward(pixels).features;
  EXPECT_EQ(tower->num_features(), 16);
  EXPECT_TRUE(model_close(f, expected.at("hidden_states.2"), "hidden_states[-2]"));
}

TEST(SiglipVision, ConfigRoundTripAndDefaults) {
  VR_REQUIRE_FIXTURE("siglip_vision");
  auto j = vr::load_config_json(vr::test::fixtures_dir() + "/siglip_vision");
  auto c = VisionConfig::from_json(j);
  EXPECT_FALSE(c.is_clip());
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_EQ(c.grid_size(), 4);  // 62 / 14
  auto back = VisionConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  // A full SiglipModel config uses its vision_config.
  nlohmann::json full = {{"model_type", "siglip"}, {"vision_config", {{"hidden_size", 32}, {"num_attention_heads", 2}}}};
  auto v = VisionConfig::from_json(full);
  EXPECT_EQ(v.hidden_size, 32);
  EXPECT_EQ(v.patch_size, 16);  // SiglipVisionConfig default
  EXPECT_THROW(VisionConfig::from_json(nlohmann::json{{"model_type", "vit"}}), vr::Error);
}

}  // namespace model_siglip_vision_test
