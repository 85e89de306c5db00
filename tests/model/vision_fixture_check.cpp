#include "model/vision_fixture_check.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/safetensors.h"
#include "vr/model/vision_tower.h"

namespace vr::test {

void expect_vision_tower_matches_fixture(const std::string& fixture, int64_t num_params) {
  const auto dir = fixtures_dir() + "/" + fixture;
  auto tower = vr::model::load_vision_tower(dir);
  auto pixels = vr::load_safetensors(dir + "/inputs.safetensors").at("pixel_values");
  auto expected = vr::load_safetensors(dir + "/expected.safetensors");
  torch::NoGradGuard no_grad;
  auto& vm = tower->vision_model;
  EXPECT_TRUE(model_close(vm->embeddings(pixels), expected.at("embeddings_output"), fixture + " embeddings_output"));
  auto out = vm->forward(pixels);
  ASSERT_EQ(out.hidden_states.size(), 4u);
  for (size_t i = 0; i < out.hidden_states.size(); ++i) {
    auto name = "hidden_states." + std::to_string(i);
    EXPECT_TRUE(model_close(out.hidden_states[i], expected.at(name), fixture + " " + name));
  }
  EXPECT_TRUE(model_close(out.last_hidden_state, expected.at("last_hidden_state"), fixture + " last_hidden_state"));
  EXPECT_TRUE(model_close(out.pooler_output, expected.at("pooler_output"), fixture + " pooler_output"));
  EXPECT_EQ(tower->config().num_parameters(), num_params);  // fixture README num_params
}

}  // namespace vr::test
