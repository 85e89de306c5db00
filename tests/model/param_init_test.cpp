// Loading a checkpoint initialises nothing at random (vr/model/param_init.h): the weights are replaced by the
// checkpoint's anyway, so a load draws no number from the CPU generator. Before, every load ran LibTorch's default
// init over the whole model (~8e9 draws at 8B). The conformance tests on the fixtures check the loaded outputs.
#include <cmath>
#include <functional>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/model/layouts.h"
#include "vr/model/llama.h"
#include "vr/model/lvlm.h"
#include "vr/model/param_init.h"

namespace vr::model::param_init_test {
namespace {

// The next numbers of the default CPU generator after seed 123 and `between`.
at::Tensor draws_after(const std::function<void()>& between) {
  torch::manual_seed(123);
  between();
  return torch::rand({8});
}

TEST(ParamInit, LoadingACheckpointDrawsNoRandomNumbers) {
  VR_REQUIRE_FIXTURE("llava");
  VR_REQUIRE_FIXTURE("llama_gqa");
  const at::Tensor untouched = draws_after([] {});
  EXPECT_TRUE(torch::equal(draws_after([] { load_lvlm(vr::test::fixtures_dir() + "/llava"); }), untouched));
  EXPECT_TRUE(torch::equal(draws_after([] { load_llama(vr::test::fixtures_dir() + "/llama_gqa"); }), untouched));
  // Sensitivity: building the same model for training (not loading) initialises it, and draws.
  LvlmConfig c = load_lvlm(vr::test::fixtures_dir() + "/llava")->config();
  EXPECT_FALSE(torch::equal(draws_after([&] { Lvlm fresh(c); }), untouched));
}

TEST(ParamInit, DeferredLayersHaveTheShapesAndOptionsAndDrawNothing) {
  {
    DeferredInitGuard deferred;
    EXPECT_TRUE(init_deferred());
    torch::nn::Linear lin{nullptr};
    torch::nn::Embedding emb{nullptr};
    torch::nn::Conv2d conv{nullptr};
    const at::Tensor untouched = draws_after([] {});
    EXPECT_TRUE(torch::equal(draws_after([&] {
      lin = make_linear(3, 5, true);
      emb = make_embedding(torch::nn::EmbeddingOptions(7, 4).padding_idx(2));
      conv = make_conv2d(torch::nn::Conv2dOptions(3, 6, 2).stride(2).bias(true));
    }), untouched));
    EXPECT_EQ(lin->weight.sizes(), (std::vector<int64_t>{5, 3}));
    EXPECT_EQ(lin->bias.sizes(), (std::vector<int64_t>{5}));
    EXPECT_EQ(lin->options.in_features(), 3);
    EXPECT_EQ(lin->options.out_features(), 5);
    EXPECT_EQ(lin->parameters().size(), 2u);  // the resized tensors are still the registered parameters
    EXPECT_TRUE(lin->weight.requires_grad());
    EXPECT_EQ(lin->forward(torch::ones({2, 3})).sizes(), (std::vector<int64_t>{2, 5}));
    EXPECT_EQ(emb->weight.sizes(), (std::vector<int64_t>{7, 4}));
    EXPECT_EQ(*emb->options.padding_idx(), 2);
    EXPECT_EQ(conv->weight.sizes(), (std::vector<int64_t>{6, 3, 2, 2}));
    EXPECT_EQ(conv->forward(torch::ones({1, 3, 4, 4})).sizes(), (std::vector<int64_t>{1, 6, 2, 2}));
  }
  EXPECT_FALSE(init_deferred());
  torch::manual_seed(0);
  auto lin = make_linear(3, 5, false);  // outside: torch::nn's default init (kaiming uniform, bound 1/sqrt(3))
  EXPECT_FALSE(lin->bias.defined());
  EXPECT_LE(lin->weight.abs().max().item<double>(), 1.0 / std::sqrt(3.0) + 1e-6);
  EXPECT_GT(lin->weight.abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace vr::model::param_init_test
