// SigLIP vision tower vs shared/fixtures/siglip_vision (HF SiglipVisionModel with the attention-pooling head;
// image 62 px with patch 14: the "valid" conv drops 6 pixel rows/cols). Tolerance model_fp32 (1e-4 / 1e-4);
// the README reports ~7e-7 on pooler_output for a plain-torch re-implementation (op order in MHA).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/checkpoint.h"
#include "vr/core/safetensors.h"
#include "vr/model/vision_tower.h"

using namespace vr::model;
using vr::test::all_close;
using vr::test::kModelAtol;
using vr::test::kModelRtol;

TEST(SiglipVision, MatchesHuggingFaceFixture) {
  VR_REQUIRE_FIXTURE("siglip_vision");
  const auto dir = vr::test::fixtures_dir() + "/siglip_vision";
  auto tower = load_vision_tower(dir);
  auto pixels = vr::load_safetensors(dir + "/inputs.safetensors").at("pixel_values");
  auto expected = vr::load_safetensors(dir + "/expected.safetensors");
  torch::NoGradGuard no_grad;
  auto& vm = tower->vision_model;
  EXPECT_TRUE(all_close(vm->embeddings(pixels), expected.at("embeddings_output"), kModelAtol, kModelRtol,
                        "embeddings_output"));
  auto out = vm->forward(pixels);
  ASSERT_EQ(out.hidden_states.size(), 4u);
  for (size_t i = 0; i < out.hidden_states.size(); ++i) {
    auto name = "hidden_states." + std::to_string(i);
    EXPECT_TRUE(all_close(out.hidden_states[i], expected.at(name), kModelAtol, kModelRtol, name));
  }
  EXPECT_TRUE(all_close(out.last_hidden_state, expected.at("last_hidden_state"), kModelAtol, kModelRtol,
                        "last_hidden_state (post_layernorm)"));
  EXPECT_TRUE(all_close(out.pooler_output, expected.at("pooler_output"), kModelAtol, kModelRtol, "pooler_output"));
  EXPECT_EQ(tower->config().num_parameters(), 197440);  // fixture README num_params
}

TEST(SiglipVision, BunnyFeatureIsSecondToLastHiddenStateWithAllTokens) {
  VR_REQUIRE_FIXTURE("siglip_vision");
  const auto dir = vr::test::fixtures_dir() + "/siglip_vision";
  auto tower = load_vision_tower(dir);  // defaults: -2, "patch" (= every token: SigLIP has no CLS)
  auto pixels = vr::load_safetensors(dir + "/inputs.safetensors").at("pixel_values");
  auto expected = vr::load_safetensors(dir + "/expected.safetensors");
  auto f = tower->forward(pixels).features;
  EXPECT_EQ(tower->num_features(), 16);
  EXPECT_TRUE(all_close(f, expected.at("hidden_states.2"), kModelAtol, kModelRtol, "hidden_states[-2]"));
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
