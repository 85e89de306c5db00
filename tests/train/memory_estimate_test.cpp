#include "vr/train/memory_estimate.h"

#include <gtest/gtest.h>

using namespace vr::train;

TEST(MemoryEstimate, ComponentsFollowTheFormulas) {
  MemoryInputs in;
  in.total_params = 1000;
  in.trainable_params = 100;
  in.bytes_per_element = 2;  // bf16: fp32 master + 2 moments = 12 bytes per trainable element
  in.batch = 2;
  in.tokens = 16;
  in.hidden = 8;
  in.heads = 2;
  in.layers = 3;
  in.vocab = 10;
  auto m = estimate_memory(in);
  EXPECT_DOUBLE_EQ(m.weights, 2000);
  EXPECT_DOUBLE_EQ(m.gradients, 200);
  EXPECT_DOUBLE_EQ(m.optimizer, 1200);
  const double per_layer = 2.0 * 16 * 8 * (34 + 5.0 * 2 * 16 / 8) * 2 / 2;
  EXPECT_DOUBLE_EQ(m.activations, 3 * per_layer + 2.0 * 2 * 16 * 10 * 4);
  in.gradient_checkpointing = true;
  auto c = estimate_memory(in);
  EXPECT_DOUBLE_EQ(c.activations, 3 * 2.0 * 16 * 8 * 2 + per_layer + 2.0 * 2 * 16 * 10 * 4);
  EXPECT_LT(c.total(), m.total());
  in.bytes_per_element = 4;
  EXPECT_DOUBLE_EQ(estimate_memory(in).optimizer, 800);  // fp32: no master copy
  EXPECT_NE(m.table().find("optimizer"), std::string::npos);
}
