// Block influence and attention mass on synthetic tensors with known answers.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection::block_influence_test {
namespace {

TEST(SelectionBlockInfluence, KnownAngles) {
  // B = 1, M = 3, D = 2. Layer 0 keeps every vector (BI 0); layer 1 rotates by 90° (cos 0 → BI 1) except at
  // position 2, which is masked out; layer 2 flips sign (cos −1 → BI 2).
  at::Tensor h0 = at::tensor({1.0, 0.0, 0.0, 2.0, 3.0, 3.0}).view({1, 3, 2});
  at::Tensor h1 = h0 * 5;                                                      // same direction
  at::Tensor h2 = at::tensor({0.0, 1.0, -2.0, 0.0, 3.0, 3.0}).view({1, 3, 2});  // 90° at t = 0, 1
  at::Tensor h3 = -h2;
  at::Tensor mask = at::tensor({1, 1, 0}).view({1, 3});
  at::Tensor cos = hidden_state_cosines({h0, h1, h2, h3});
  ASSERT_EQ(cos.sizes(), (std::vector<int64_t>{3, 1, 3}));
  std::vector<double> bi = block_influence(cos, mask);
  EXPECT_NEAR(bi[0], 0.0, 1e-12);
  EXPECT_NEAR(bi[1], 1.0, 1e-12);
  EXPECT_NEAR(bi[2], 2.0, 1e-12);
  // The prenorm variant replaces only the last successor.
  std::vector<double> pre = block_influence(hidden_state_cosines({h0, h1, h2, h3}, h2), mask);
  EXPECT_NEAR(pre[2], 0.0, 1e-12);
  EXPECT_NEAR(pre[1], 1.0, 1e-12);
}

TEST(SelectionBlockInfluence, PooledOverRowsAndNanSkipped) {
  // Row 0: 1 valid position, cos 1. Row 1: 4 valid positions, cos 0, except a zero vector whose NaN cosine is
  // skipped, not counted. Pooled mean 1/4 → BI 0.75 (a mean of row means would give 0.5).
  at::Tensor a = at::tensor({1.0, 0.0}).view({1, 1, 2}).expand({2, 4, 2}).clone();
  at::Tensor b = a.clone();
  b[1] = at::tensor({0.0, 1.0});
  a[1][3] = at::zeros({2});  // NaN cosine at a valid position
  at::Tensor mask = at::tensor({1, 0, 0, 0, 1, 1, 1, 1}).view({2, 4});
  at::Tensor cos = hidden_state_cosines({a, b});
  EXPECT_TRUE(std::isnan(cos[0][1][3].item<double>()));
  EXPECT_NEAR(block_influence(cos, mask)[0], 0.75, 1e-12);
  at::Tensor per_row = block_influence_per_row(cos, mask);
  EXPECT_NEAR(per_row[0][0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(per_row[1][0].item<double>(), 1.0, 1e-12);
  EXPECT_THROW(block_influence(cos, mask.narrow(1, 0, 3)), vr::Error);
  EXPECT_THROW(hidden_state_cosines({a}), vr::Error);
}

TEST(SelectionAttentionMass, QueriesAfterTheImageOnly) {
  // Row 0: [bos, img, img, txt, txt, pad]; row 1: no image at all (contributes no query).
  at::Tensor image = at::tensor({0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}).view({2, 6});
  at::Tensor valid = at::tensor({1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0}).view({2, 6});
  at::Tensor q = after_image_query_mask(image, valid);
  EXPECT_TRUE(at::equal(q.to(at::kLong), at::tensor({0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0}).view({2, 6})));
  // Uniform causal attention: query t spreads 1/(t+1) over keys 0..t; image keys 1, 2.
  // t = 3: 2/4, t = 4: 2/5 → mean 0.45 for each head.
  at::Tensor attn = at::zeros({2, 2, 6, 6}, at::kDouble);
  for (int t = 0; t < 6; ++t) attn.select(2, t).narrow(2, 0, t + 1).fill_(1.0 / (t + 1));
  std::vector<double> m = attention_image_mass({attn, attn * 0}, image, valid);
  EXPECT_NEAR(m[0], 0.45, 1e-12);
  EXPECT_NEAR(m[1], 0.0, 1e-12);
  at::Tensor per_head = attention_image_mass_per_head({attn}, image, valid);
  EXPECT_NEAR(per_head[0][1].item<double>(), 0.45, 1e-12);
  at::Tensor per_row = attention_image_mass_per_row({attn}, image, valid);
  EXPECT_NEAR(per_row[0][0].item<double>(), 0.45, 1e-12);
  EXPECT_TRUE(std::isnan(per_row[1][0].item<double>()));  // no queries in that row
  LayerMean wrong(3);
  EXPECT_THROW(accumulate_attention_mass({attn}, image, valid, wrong), vr::Error);
}

}  // namespace
}  // namespace vr::selection::block_influence_test
