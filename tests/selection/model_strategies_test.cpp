// attention and block_influence strategies end to end: the real Lvlm on the SigLIP LLaVA fixture, one calibration
// batch (the fixture inputs), scores compared with the HF-derived fixture values. Tolerance `score` (atol 1e-5,
// rtol 1e-4): the model reproduces HF's hidden states / attentions to ~1e-6, and the scores are means of those.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/data/batch.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/selection/selection.h"

namespace vr::selection::model_strategies_test {
namespace {

struct FixtureSetup {
  vr::model::Lvlm model{nullptr};
  vr::data::Batch batch;
  std::map<std::string, at::Tensor> expected;
};

FixtureSetup load_fixture() {
  const std::string dir = vr::test::fixtures_dir() + "/layer_scores/llava_siglip";
  FixtureSetup s;
  s.model = vr::model::load_lvlm(dir);
  auto in = vr::load_safetensors(dir + "/inputs.safetensors");
  s.batch.input_ids = in.at("input_ids");
  s.batch.attention_mask = in.at("attention_mask");
  s.batch.labels = in.at("labels");
  s.batch.pixel_values = in.at("pixel_values");
  s.expected = vr::load_safetensors(dir + "/expected.safetensors");
  return s;
}

SelectionResult run(FixtureSetup& s, const std::string& strategy, int64_t count, int64_t batches) {
  SelectionConfig cfg;
  cfg.strategy = strategy;
  cfg.count = count;
  cfg.calibration_samples = 2 * batches;  // the fixture batch has 2 rows
  SelectionContext ctx;
  ctx.num_layers = 5;
  ctx.model = &s.model;
  int64_t served = 0;
  ctx.calibration_batches = [&]() -> std::optional<vr::data::Batch> {
    if (served == batches) return std::nullopt;
    ++served;
    return s.batch;
  };
  SelectionResult r = select_layers(cfg, ctx);
  EXPECT_EQ(served, batches);
  return r;
}

std::vector<int64_t> top(const at::Tensor& scores, int64_t k) {
  std::vector<double> v(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel());
  return top_k_layers(v, k, 0);
}

TEST(SelectionModelStrategies, BlockInfluenceMatchesFixture) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  FixtureSetup s = load_fixture();
  SelectionResult r = run(s, "block_influence", 2, 1);
  EXPECT_TRUE(vr::test::all_close(at::tensor(r.scores, at::kDouble), s.expected.at("bi.hf"), 1e-5, 1e-4, "bi.hf"));
  EXPECT_EQ(r.layers, top(s.expected.at("bi.hf"), 2));
  // The same batch twice: pooled means are unchanged.
  SelectionResult twice = run(s, "block_influence", 2, 2);
  EXPECT_TRUE(vr::test::all_close(at::tensor(twice.scores, at::kDouble), at::tensor(r.scores, at::kDouble), 1e-12,
                                  1e-12, "bi twice"));
  EXPECT_TRUE(s.model->is_training());  // training mode restored
}

TEST(SelectionModelStrategies, AttentionMatchesFixture) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  FixtureSetup s = load_fixture();
  SelectionResult r = run(s, "attention", 2, 1);
  EXPECT_TRUE(vr::test::all_close(at::tensor(r.scores, at::kDouble), s.expected.at("attn_image_mass"), 1e-5, 1e-4,
                                  "attn_image_mass"));
  EXPECT_EQ(r.layers, top(s.expected.at("attn_image_mass"), 2));
}

TEST(SelectionModelStrategies, NeedModelAndData) {
  SelectionConfig cfg;
  cfg.strategy = "attention";
  SelectionContext ctx;
  ctx.num_layers = 4;
  EXPECT_THROW(select_layers(cfg, ctx), vr::Error);
  cfg.strategy = "block_influence";
  EXPECT_THROW(select_layers(cfg, ctx), vr::Error);
}

}  // namespace
}  // namespace vr::selection::model_strategies_test
