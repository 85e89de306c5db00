#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/projector.h"

namespace model_projector_test {

using namespace vr::model;

TEST(Projector, Mlp2xGeluIsLinearExactGeluLinear) {
  Projector p("mlp2x_gelu", 6, 8);
  auto x = torch::randn({2, 3, 6});
  auto h = torch::matmul(x, p->linear_1->weight.t()) + p->linear_1->bias;
  auto gelu_erf = 0.5 * h * (1 + torch::erf(h / std::sqrt(2.0)));
  auto expect = torch::matmul(gelu_erf, p->linear_2->weight.t()) + p->linear_2->bias;
  EXPECT_TRUE(torch::allclose(p(x), expect, 1e-6, 1e-6));
  EXPECT_EQ(p->named_parameters().size(), 4u);
  EXPECT_TRUE(p->named_parameters().contains("linear_2.bias"));
}

TEST(Projector, LinearAndIdentity) {
  Projector lin("linear", 6, 8);
  auto x = torch::randn({2, 3, 6});
  EXPECT_TRUE(torch::allclose(lin(x), torch::matmul(x, lin->linear_1->weight.t()) + lin->linear_1->bias));
  Projector id("identity", 6, 6);
  EXPECT_TRUE(torch::equal(id(x), x));
  EXPECT_EQ(id->parameters().size(), 0u);
  EXPECT_THROW(Projector("identity", 6, 8), vr::Error);
  EXPECT_THROW(Projector("mlp3x_relu", 6, 8), vr::Error);
}

TEST(Projector, PublishedParameterCounts) {
  // SPEC §1.5: Dv·H + H + H·H + H.
  EXPECT_EQ(projector_num_parameters("mlp2x_gelu", 1024, 4096), 20979712);  // LLaVA-1.5-7B
  EXPECT_EQ(projector_num_parameters("mlp2x_gelu", 1024, 5120), 31467520);  // LLaVA-1.5-13B
  EXPECT_EQ(projector_num_parameters("mlp2x_gelu", 1152, 4096), 21504000);  // Bunny-Llama-3-8B-V
  Projector p("mlp2x_gelu", 12, 16);
  int64_t n = 0;
  for (auto& t : p->parameters()) n += t.numel();
  EXPECT_EQ(n, projector_num_parameters("mlp2x_gelu", 12, 16));
}

}  // namespace model_projector_test
