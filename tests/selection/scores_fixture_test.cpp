// Conformance of the score math with shared/fixtures/layer_scores (HF transformers 4.44.2 forward passes,
// scores computed in float64 as the fixture README defines them).
// Tolerances: `score` (atol 1e-5, rtol 1e-4) for block influence / attention mass — inputs are the fixture's own
// float32 tensors, so the only difference is float64 summation order (observed ~1e-16);
// `param_score` (atol 1e-6, rtol 1e-6) for parameter change — float64 throughout, and atol 1e-6 absorbs the ~1e-8
// that an unchanged matrix gets from arccos near 1; `exact` for masks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "support/fixtures.h"
#include "vr/core/tensor_files.h"
#include "vr/core/safetensors.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"

namespace vr::selection::scores_fixture_test {
namespace {

constexpr double kScoreAtol = 1e-5, kScoreRtol = 1e-4;
constexpr double kParamAtol = 1e-6, kParamRtol = 1e-6;

at::Tensor vec(const std::vector<double>& v) { return at::tensor(v, at::kDouble); }

std::vector<at::Tensor> numbered(const std::map<std::string, at::Tensor>& f, const std::string& stem) {
  std::vector<at::Tensor> out;
  while (f.count(stem + std::to_string(out.size()))) out.push_back(f.at(stem + std::to_string(out.size())));
  return out;
}

// Checks every score tensor of one layer_scores/<name>/expected.safetensors.
void check_scores(const std::map<std::string, at::Tensor>& e, const std::vector<at::Tensor>& hidden) {
  const at::Tensor& valid = e.at("merged.attention_mask");
  const int64_t L = static_cast<int64_t>(hidden.size()) - 1;
  std::vector<at::Tensor> attn = numbered(e, "attentions.");
  ASSERT_EQ(static_cast<int64_t>(attn.size()), L);

  // Cosines per position (the fixture stores 0 at invalid positions).
  at::Tensor cos_hf = hidden_state_cosines(hidden), cos_pre = hidden_state_cosines(hidden, e.at("last_layer_prenorm"));
  at::Tensor keep = valid.to(at::kBool).unsqueeze(0);
  EXPECT_TRUE(vr::test::all_close(at::where(keep, cos_hf, at::zeros_like(cos_hf)), e.at("cos.hf"), kScoreAtol,
                                  kScoreRtol, "cos.hf"));
  EXPECT_TRUE(vr::test::all_close(at::where(keep, cos_pre, at::zeros_like(cos_pre)), e.at("cos.prenorm"), kScoreAtol,
                                  kScoreRtol, "cos.prenorm"));

  // Block influence: pooled over valid / image / text positions, per row, both last-layer variants.
  for (const auto& [suffix, cos] : {std::pair<std::string, at::Tensor>{"hf", cos_hf}, {"prenorm", cos_pre}}) {
    EXPECT_TRUE(vr::test::all_close(vec(block_influence(cos, valid)), e.at("bi." + suffix), kScoreAtol, kScoreRtol,
                                    "bi." + suffix));
    EXPECT_TRUE(vr::test::all_close(vec(block_influence(cos, e.at("image_mask"))), e.at("bi.image." + suffix),
                                    kScoreAtol, kScoreRtol, "bi.image." + suffix));
    EXPECT_TRUE(vr::test::all_close(vec(block_influence(cos, e.at("text_mask"))), e.at("bi.text." + suffix),
                                    kScoreAtol, kScoreRtol, "bi.text." + suffix));
    EXPECT_TRUE(vr::test::all_close(block_influence_per_row(cos, valid), e.at("bi." + suffix + ".per_row"),
                                    kScoreAtol, kScoreRtol, "bi." + suffix + ".per_row"));
  }

  // Attention mass on image keys from text queries after the image.
  at::Tensor queries = after_image_query_mask(e.at("image_mask"), valid);
  EXPECT_TRUE(at::equal(queries.to(at::kLong), e.at("after_image_query_mask"))) << "after_image_query_mask";
  EXPECT_TRUE(vr::test::all_close(vec(attention_image_mass(attn, e.at("image_mask"), valid)), e.at("attn_image_mass"),
                                  kScoreAtol, kScoreRtol, "attn_image_mass"));
  EXPECT_TRUE(vr::test::all_close(attention_image_mass_per_row(attn, e.at("image_mask"), valid),
                                  e.at("attn_image_mass.per_row"), kScoreAtol, kScoreRtol, "attn_image_mass.per_row"));
  EXPECT_TRUE(vr::test::all_close(attention_image_mass_per_head(attn, e.at("image_mask"), valid),
                                  e.at("attn_image_mass.per_head"), kScoreAtol, kScoreRtol,
                                  "attn_image_mass.per_head"));
}

TEST(SelectionScoresFixture, LlavaSiglip) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  auto e = vr::load_safetensors(vr::test::fixtures_dir() + "/layer_scores/llava_siglip/expected.safetensors");
  check_scores(e, numbered(e, "hidden_states."));
}

TEST(SelectionScoresFixture, LlavaClip) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_clip");
  VR_REQUIRE_FIXTURE("llava/expected_legacy.safetensors");
  auto e = vr::load_safetensors(vr::test::fixtures_dir() + "/layer_scores/llava_clip/expected.safetensors");
  auto legacy = vr::load_safetensors(vr::test::fixtures_dir() + "/llava/expected_legacy.safetensors");
  check_scores(e, numbered(legacy, "hidden_states."));
}

TEST(SelectionScoresFixture, ParamChange) {
  VR_REQUIRE_FIXTURE("layer_scores/param_change");
  const std::string dir = vr::test::fixtures_dir() + "/layer_scores/param_change";
  auto e = vr::load_safetensors(dir + "/expected.safetensors");
  StateDict base = vr::load_tensors(dir + "/base"), tuned = vr::load_tensors(dir + "/perturbed");
  ParamChange pc = param_change(base, tuned, "base", "perturbed");
  EXPECT_TRUE(at::equal(e.at("projection_order"), at::arange(7, at::kLong)));
  for (const auto& [name, got] : std::vector<std::pair<std::string, at::Tensor>>{{"frob", pc.frob},
                                                                                 {"frob_rel", pc.frob_rel},
                                                                                 {"angular", pc.angular},
                                                                                 {"base_norm", pc.base_norm},
                                                                                 {"perturbed_norm", pc.tuned_norm},
                                                                                 {"inner", pc.inner}})
    EXPECT_TRUE(vr::test::all_close(got, e.at("per_matrix." + name), kParamAtol, kParamRtol, "per_matrix." + name));
  for (const std::string metric : kParamChangeMetrics)
    EXPECT_TRUE(vr::test::all_close(vec(pc.layer_scores(metric)), e.at(metric), kParamAtol, kParamRtol, metric));
  // The perturbation makes the ranking unambiguous: layer 3 changed most, then 1; layer 4 only by scale (angular 0).
  EXPECT_EQ(top_k_layers(pc.layer_scores("angular"), 2, 0), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(top_k_layers(pc.layer_scores("frob"), 2, 0), (std::vector<int64_t>{3, 4}));
}

}  // namespace
}  // namespace vr::selection::scores_fixture_test
