// Parameter-change scores on small hand-made state dicts: what enters, the prefixes of LLM / LVLM
// checkpoints, and errors.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection::param_change_test {
namespace {

// A 2-layer "checkpoint" with 4x4 projections drawn from a seeded generator.
StateDict tiny_llm(const std::string& prefix, uint64_t seed) {
  at::manual_seed(seed);
  StateDict sd;
  for (int l = 0; l < 2; ++l) {
    for (const auto& p : kProjectionNames) sd[prefix + "layers." + std::to_string(l) + "." + p + ".weight"] = at::randn({4, 4});
    sd[prefix + "layers." + std::to_string(l) + ".input_layernorm.weight"] = at::ones({4});
  }
  sd[prefix + "embed_tokens.weight"] = at::randn({8, 4});
  return sd;
}

TEST(SelectionParamChange, PrefixDetection) {
  EXPECT_EQ(decoder_layer_prefix(tiny_llm("model.", 1), "x"), "model.");
  StateDict lvlm = tiny_llm("language_model.model.", 1);
  // CLIP encoder layers have self_attn.q_proj too, but no gate_proj: they must not count.
  lvlm["vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight"] = at::randn({4, 4});
  lvlm["vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight"] = at::randn({4, 4});
  EXPECT_EQ(decoder_layer_prefix(lvlm, "x"), "language_model.model.");
  EXPECT_EQ(count_decoder_layers(lvlm, "language_model.model."), 2);
  StateDict both = tiny_llm("model.", 1);
  for (auto& [k, v] : tiny_llm("other.", 2)) both[k] = v;
  EXPECT_THROW(decoder_layer_prefix(both, "x"), vr::Error);
  EXPECT_THROW(decoder_layer_prefix(StateDict{{"lm_head.weight", at::zeros({2, 2})}}, "x"), vr::Error);
}

TEST(SelectionParamChange, OnlyProjectionsCountAndPrefixesMayDiffer) {
  StateDict base = tiny_llm("model.", 1);
  StateDict tuned;
  for (auto& [k, v] : base) tuned["language_model." + k] = v.clone();  // LVLM naming of the same weights
  tuned["language_model.model.layers.0.input_layernorm.weight"] *= 3;   // norms never count
  tuned["language_model.model.embed_tokens.weight"] += 1;              // embeddings never count
  ParamChange same = param_change(base, tuned);
  for (const std::string m : kParamChangeMetrics)
    for (double v : same.layer_scores(m)) EXPECT_NEAR(v, 0.0, 1e-7) << m;

  // Layer 1's down_proj doubled: angular 0 (same direction), frob = |W|, frob_rel = 1.
  tuned["language_model.model.layers.1.mlp.down_proj.weight"] *= 2;
  ParamChange pc = param_change(base, tuned);
  const double norm = base["model.layers.1.mlp.down_proj.weight"].to(at::kDouble).norm().item<double>();
  EXPECT_NEAR(pc.layer_scores("frob")[1], norm, 1e-9);
  EXPECT_NEAR(pc.layer_scores("frob_rel")[1], 1.0, 1e-12);
  EXPECT_NEAR(pc.layer_scores("angular")[1], 0.0, 1e-6);
  // Layer 0's q_proj negated: angular distance of exactly 1 (the clamp keeps acos defined).
  tuned["language_model.model.layers.0.self_attn.q_proj.weight"] *= -1;
  pc = param_change(base, tuned);
  EXPECT_NEAR(pc.angular[0][0].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(pc.frob_rel[0][0].item<double>(), 2.0, 1e-12);
  EXPECT_THROW(pc.layer_scores("l2"), vr::Error);
}

TEST(SelectionParamChange, MismatchesAreErrors) {
  StateDict base = tiny_llm("model.", 1);
  StateDict tuned = base;
  tuned["model.layers.1.self_attn.k_proj.weight"] = at::randn({2, 4});
  try {
    param_change(base, tuned, "base_dir", "tuned_dir");
    FAIL();
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layers.1.self_attn.k_proj"), std::string::npos) << e.what();
  }
  tuned = base;
  tuned.erase("model.layers.1.mlp.up_proj.weight");
  EXPECT_THROW(param_change(base, tuned), vr::Error);
  tuned = base;
  for (const auto& p : kProjectionNames) tuned.erase("model.layers.1." + p + ".weight");
  EXPECT_THROW(param_change(base, tuned), vr::Error);  // 2 layers vs 1
}

}  // namespace
}  // namespace vr::selection::param_change_test
