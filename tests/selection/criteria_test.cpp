// The score math of the angular, triplet and layer_contribution strategies on hand-computed cases
// (vr/selection/scores.h), and the Llama hook layer_contribution relies on (LlamaInputs::freeze_layer).
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/llama.h"
#include "vr/selection/scores.h"

namespace vr::selection::criteria_test {
namespace {

// Three hidden states (L = 2 layers), one row, two tokens, D = 2:
//   token 0: h0 = (1,0), h1 = (1,1), h2 = (0,1)     angles 45° then 45° (90° over both layers)
//   token 1: h0 = (0,1), h1 = (0,1), h2 = (0,−1)    angles 0° then 180°
std::vector<at::Tensor> two_layer_states() {
  return {at::tensor({1.0, 0.0, 0.0, 1.0}).view({1, 2, 2}), at::tensor({1.0, 1.0, 0.0, 1.0}).view({1, 2, 2}),
          at::tensor({0.0, 1.0, 0.0, -1.0}).view({1, 2, 2})};
}

TEST(SelectionCriteria, AngularDistanceByHand) {
  const auto h = two_layer_states();
  const at::Tensor both = at::ones({1, 2}, at::kLong);
  // n = 1: layer 0 → (45° + 0°)/2 = 0.25/2 = 0.125 of π; layer 1 → (45° + 180°)/2 = (0.25 + 1)/2 = 0.625.
  std::vector<double> d1 = masked_layer_mean(angular_distances(h, 1), both);
  ASSERT_EQ(d1.size(), 2u);
  EXPECT_NEAR(d1[0], 0.125, 1e-15);
  EXPECT_NEAR(d1[1], 0.625, 1e-15);
  // n = 2: layer 0 → (90° + 180°)/2 = (0.5 + 1)/2 = 0.75; layer 1's block is cut at the top: d(h1, h2) = 0.625.
  std::vector<double> d2 = masked_layer_mean(angular_distances(h, 2), both);
  EXPECT_NEAR(d2[0], 0.75, 1e-15);
  EXPECT_NEAR(d2[1], 0.625, 1e-15);
  // Token 1 masked out: only the 45° steps of token 0 remain.
  std::vector<double> first = masked_layer_mean(angular_distances(h, 1), at::tensor({1L, 0L}).view({1, 2}));
  EXPECT_NEAR(first[0], 0.25, 1e-15);
  EXPECT_NEAR(first[1], 0.25, 1e-15);
  EXPECT_THROW(angular_distances(h, 3), vr::Error);
  EXPECT_THROW(angular_distances(h, 0), vr::Error);
}

TEST(SelectionCriteria, AngularDistanceOfParallelVectorsIsZeroNotNaN) {
  // cos of a vector with a multiple of itself can round a few ulp above 1; arccos would give NaN without the clamp.
  at::Tensor x = at::tensor({0.1, 0.2, 0.7, 1e-3, 3.3}, at::kDouble).view({1, 1, 5});
  at::Tensor d = angular_distances({x, x * 3.0}, 1);
  EXPECT_TRUE(std::isfinite(d.item<double>()));
  EXPECT_NEAR(d.item<double>(), 0.0, 1e-7);  // arccos(1 − ε) ≈ sqrt(2ε) for ε ~ 1e-16
  // A zero vector gives NaN, which the means skip.
  at::Tensor z = angular_distances({x, at::zeros_like(x)}, 1);
  EXPECT_TRUE(std::isnan(z.item<double>()));
}

TEST(SelectionCriteria, TripletSimilarityByHand) {
  // L = 2: only s1(0) exists (i + k <= L − 1 = 1); s1(0) = mean(cos 45°, cos 0°) = (√2/2 + 1)/2.
  TripletAccumulator acc(2);
  acc.add(two_layer_states(), at::ones({1, 2}, at::kLong));
  TripletSimilarity s = acc.similarity();
  ASSERT_EQ(s.s1.size(), 2u);
  EXPECT_NEAR(s.s1[0], (std::sqrt(0.5) + 1.0) / 2.0, 1e-15);
  EXPECT_TRUE(std::isnan(s.s1[1]));
  EXPECT_TRUE(std::isnan(s.s2[0]) && std::isnan(s.s3[0]));
}

TEST(SelectionCriteria, InterlaceAssignmentByHand) {
  const double nan = NAN;
  TripletSimilarity s;
  s.s1 = {0.90, 0.95, 0.80, 0.70, 0.85, 0.60, 0.99, nan};
  s.s2 = {0.70, 0.75, 0.60, 0.65, 0.50, 0.90, nan, nan};
  s.s3 = {0.50, 0.60, 0.90, 0.40, 0.80, nan, nan, nan};
  // Triplets by s3: i = 2 (0.9): layers 2,3,4 free; s1(2) = 0.8 >= s1(3) = 0.7 → drop 2, tune 3, anchor 4.
  // i = 4, 1, 0, 3 overlap {2,3,4}. One drop short → pairs by s2: i = 5 (0.9): s1(5) = 0.6 < s1(6) = 0.99 →
  // drop 6, tune 5.
  TripletPlan p = interlace_assignment(s, 2);
  EXPECT_EQ(p.drop, (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(p.tune, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(p.anchor, (std::vector<int64_t>{4}));
  // One drop: the first triplet alone.
  p = interlace_assignment(s, 1);
  EXPECT_EQ(p.drop, (std::vector<int64_t>{2}));
  EXPECT_EQ(p.tune, (std::vector<int64_t>{3}));
  EXPECT_EQ(p.anchor, (std::vector<int64_t>{4}));
  // A tie in s1 drops the first layer of the pair; 5 drops cannot be placed in 8 layers.
  s.s1[3] = 0.80;
  EXPECT_EQ(interlace_assignment(s, 1).drop, (std::vector<int64_t>{2}));
  EXPECT_THROW(interlace_assignment(s, 5), vr::Error);
}

TEST(SelectionCriteria, KlDivergenceByHand) {
  // p = softmax(0, ln 2) = (1/3, 2/3), q = softmax(0, 0) = (1/2, 1/2):
  // KL(p‖q) = 1/3 ln(2/3) + 2/3 ln(4/3) = 0.0566330...
  at::Tensor p = at::tensor({0.0, std::log(2.0)}).view({1, 1, 2}), q = at::zeros({1, 1, 2});
  const double want = std::log(2.0 / 3.0) / 3.0 + 2.0 * std::log(4.0 / 3.0) / 3.0;
  EXPECT_NEAR(kl_divergence_per_position(p, q).item<double>(), want, 1e-7);  // float32 inputs: ln 2 rounded
  EXPECT_NEAR(kl_divergence_per_position(p, p).item<double>(), 0.0, 1e-15);
}

TEST(SelectionCriteria, ContributionPositions) {
  at::Tensor mask = at::tensor({1L, 1L, 1L, 1L, 0L}).view({1, 5});
  at::Tensor image = at::tensor({0L, 1L, 0L, 0L, 0L}).view({1, 5});
  // labels[t + 1] != −100 → position t: labels at 3 and 4 supervise positions 2 and 3.
  at::Tensor labels = at::tensor({-100L, -100L, -100L, 7L, 9L}).view({1, 5});
  EXPECT_TRUE(at::equal(contribution_positions(labels, mask, image), at::tensor({0L, 0L, 1L, 1L, 0L}).view({1, 5}).to(at::kBool)));
  // Nothing supervised (or no labels): every valid text position.
  at::Tensor none = at::full({1, 5}, -100L);
  at::Tensor text = at::tensor({1L, 0L, 1L, 1L, 0L}).view({1, 5}).to(at::kBool);
  EXPECT_TRUE(at::equal(contribution_positions(none, mask, image), text));
  EXPECT_TRUE(at::equal(contribution_positions(at::Tensor(), mask, image), text));
}

// The hook: layer i returns its input at the frozen positions; other positions of layer i are what the normal pass
// computes (their keys/values come from the same layer input); later layers then differ.
TEST(SelectionCriteria, FreezeLayerKeepsFrozenPositionsAndNothingElse) {
  torch::manual_seed(3);
  vr::model::LlamaConfig c;
  c.vocab_size = 40, c.hidden_size = 16, c.intermediate_size = 32, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2;
  vr::model::LlamaForCausalLM m(c);
  for (auto& p : m->parameters()) p.data().normal_(0, 0.3);
  torch::NoGradGuard no_grad;
  vr::model::LlamaInputs in;
  in.input_ids = at::randint(0, 40, {2, 6}, at::kLong);
  in.output_hidden_states = true;
  auto normal = m->forward(in);
  in.freeze_layer = 1;
  in.freeze_positions = at::zeros({2, 6}, at::kBool);
  in.freeze_positions.narrow(1, 1, 3).fill_(true);  // positions 1..3 of both rows
  auto frozen = m->forward(in);
  const at::Tensor keep = in.freeze_positions.unsqueeze(-1);  // [2, 6, 1]
  // hidden_states[2] = output of layer 1: input (hidden_states[1]) at frozen positions, normal elsewhere.
  EXPECT_TRUE(at::equal(frozen.hidden_states[1], normal.hidden_states[1]));
  EXPECT_TRUE(at::equal(at::where(keep, frozen.hidden_states[2], at::zeros({})),
                        at::where(keep, normal.hidden_states[1], at::zeros({}))));
  EXPECT_TRUE(at::allclose(at::where(keep, at::zeros({}), frozen.hidden_states[2]),
                           at::where(keep, at::zeros({}), normal.hidden_states[2]), 0, 1e-6));
  EXPECT_FALSE(at::allclose(frozen.logits, normal.logits, 0, 1e-3));  // layer 2 sees the change
  // Off (-1) is the normal pass; a bad index is an error.
  in.freeze_layer = -1;
  EXPECT_TRUE(at::equal(m->forward(in).logits, normal.logits));
  in.freeze_layer = 3;
  EXPECT_THROW(m->forward(in), vr::Error);
}

}  // namespace
}  // namespace vr::selection::criteria_test
