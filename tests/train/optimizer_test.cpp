#include "vr/train/optimizer.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/core/error.h"

namespace train_optimizer_test {

using vr::train::AdamW;
using vr::train::ParamGroup;

// One AdamW step computed by hand: t = 1, so m̂ = g, v̂ = g², and the update is lr · g / (|g| + ε) after decay.
TEST(AdamW, FirstStepMatchesHandComputation) {
  auto p = torch::tensor({1.0f, -2.0f, 0.5f}).requires_grad_(true);
  p.mutable_grad() = torch::tensor({0.1f, -0.3f, 0.0f});
  const double lr = 0.01, wd = 0.1, eps = 1e-8;
  AdamW opt({ParamGroup{"g", lr, wd, {"p"}, {p}}});
  opt.step(1.0);
  const float init[] = {1.0f, -2.0f, 0.5f}, grad[] = {0.1f, -0.3f, 0.0f};
  for (int i = 0; i < 3; ++i) {
    double decayed = init[i] * (1 - lr * wd);
    double expect = decayed - lr * grad[i] / (std::fabs(grad[i]) + eps);
    EXPECT_NEAR(p[i].item<double>(), expect, 1e-6) << i;
  }
  // Second step, by hand: m = 0.9·m + 0.1·g, v = 0.999·v + 0.001·g², bias-corrected.
  auto before = p.detach().clone();
  p.mutable_grad() = torch::tensor({0.2f, 0.1f, -0.4f});
  opt.step(0.5);
  const float g2[] = {0.2f, 0.1f, -0.4f};
  for (int i = 0; i < 3; ++i) {
    double m = 0.9 * (0.1 * grad[i]) + 0.1 * g2[i];
    double v = 0.999 * (0.001 * grad[i] * grad[i]) + 0.001 * g2[i] * g2[i];
    double mh = m / (1 - 0.9 * 0.9), vh = v / (1 - 0.999 * 0.999);
    double lr2 = lr * 0.5;
    double expect = before[i].item<double>() * (1 - lr2 * wd) - lr2 * mh / (std::sqrt(vh) + eps);
    EXPECT_NEAR(p[i].item<double>(), expect, 1e-6) << i;
  }
  EXPECT_EQ(opt.step_count(), 2);
}

// Bit-identical to LibTorch's own AdamW over several steps (same operation order).
TEST(AdamW, MatchesTorchAdamWBitForBit) {
  torch::manual_seed(3);
  auto a = torch::randn({4, 5}).requires_grad_(true);
  auto b = a.detach().clone().requires_grad_(true);
  AdamW ours({ParamGroup{"g", 1e-2, 0.05, {"a"}, {a}}});
  torch::optim::AdamW theirs({b}, torch::optim::AdamWOptions(1e-2).weight_decay(0.05));
  for (int s = 0; s < 5; ++s) {
    auto g = torch::randn({4, 5});
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    ours.step(1.0);
    theirs.step();
  }
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(AdamW, GroupsUseTheirOwnLrAndSkipParamsWithoutGrad) {
  auto p = torch::ones({2}).requires_grad_(true), q = torch::ones({2}).requires_grad_(true);
  auto frozen_like = torch::ones({2}).requires_grad_(true);
  p.mutable_grad() = torch::ones({2});
  q.mutable_grad() = torch::ones({2});
  AdamW opt({ParamGroup{"llm", 1e-1, 0, {"p", "f"}, {p, frozen_like}}, ParamGroup{"projector", 1e-3, 0, {"q"}, {q}}});
  opt.step(1.0);
  EXPECT_NEAR(p[0].item<double>(), 1 - 1e-1, 1e-6);
  EXPECT_NEAR(q[0].item<double>(), 1 - 1e-3, 1e-6);
  EXPECT_EQ(frozen_like[0].item<double>(), 1.0);  // no gradient: untouched
}

// bf16 parameters keep an fp32 master: 1e-4 updates on 1.0 vanish in bf16 (spacing 2^-7) but accumulate here.
TEST(AdamW, Bf16ParamsUseFp32Master) {
  auto p = torch::ones({4}, torch::kBFloat16).requires_grad_(true);
  AdamW opt({ParamGroup{"g", 1e-4, 0, {"p"}, {p}}});
  for (int s = 0; s < 100; ++s) {
    p.mutable_grad() = torch::ones({4}, torch::kBFloat16);
    opt.step(1.0);
  }
  auto state = opt.state_dict();
  EXPECT_EQ(state.at("master.p").scalar_type(), at::kFloat);
  EXPECT_NEAR(state.at("master.p")[0].item<double>(), 1 - 100 * 1e-4, 1e-5);
  EXPECT_NEAR(p[0].item<double>(), 0.99, 0.004);  // the rounded master, not 1.0
  EXPECT_EQ(opt.num_state_elements(), 3 * 4);
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  torch::manual_seed(5);
  auto a = torch::randn({3, 3}).requires_grad_(true);
  auto b = a.detach().clone().requires_grad_(true);
  AdamW first({ParamGroup{"g", 1e-2, 0.1, {"w"}, {a}}});
  std::vector<at::Tensor> grads;
  for (int s = 0; s < 4; ++s) grads.push_back(torch::randn({3, 3}));
  for (int s = 0; s < 2; ++s) {
    a.mutable_grad() = grads[s].clone();
    first.step(1.0);
  }
  AdamW second({ParamGroup{"g", 1e-2, 0.1, {"w"}, {b}}});
  second.load_state_dict(first.state_dict());
  EXPECT_TRUE(torch::equal(a, b));
  for (int s = 2; s < 4; ++s) {
    a.mutable_grad() = grads[s].clone();
    b.mutable_grad() = grads[s].clone();
    first.step(0.7);
    second.step(0.7);
  }
  EXPECT_TRUE(torch::equal(a, b));
  auto bad = first.state_dict();
  bad.erase("exp_avg.w");
  EXPECT_THROW(second.load_state_dict(bad), vr::Error);
}

TEST(AdamW, NoDecayRule) {
  EXPECT_TRUE(vr::train::is_no_decay_param("language_model.model.layers.0.input_layernorm.weight", 1));
  EXPECT_TRUE(vr::train::is_no_decay_param("multi_modal_projector.linear_1.bias", 1));
  EXPECT_FALSE(vr::train::is_no_decay_param("multi_modal_projector.linear_1.weight", 2));
  EXPECT_FALSE(vr::train::is_no_decay_param("language_model.model.layers.0.self_attn.q_proj.weight", 2));
}

TEST(ClipGradNorm, ScalesToMaxNormAndReportsNormBefore) {
  auto p = torch::zeros({2}).requires_grad_(true), q = torch::zeros({1}).requires_grad_(true);
  p.mutable_grad() = torch::tensor({3.0f, 0.0f});
  q.mutable_grad() = torch::tensor({4.0f});
  double n = vr::train::clip_grad_norm({p, q}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-6);
  EXPECT_NEAR(p.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(q.grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-6);
  // Below the limit: untouched; max_norm 0: never clipped.
  EXPECT_NEAR(vr::train::clip_grad_norm({p, q}, 10.0), 1.0, 1e-5);
  EXPECT_NEAR(p.grad()[0].item<double>(), 0.6, 1e-5);
  p.mutable_grad() = torch::tensor({30.0f, 40.0f});
  EXPECT_NEAR(vr::train::clip_grad_norm({p}, 0.0), 50.0, 1e-4);
  EXPECT_EQ(p.grad()[0].item<double>(), 30.0);
}

}  // namespace train_optimizer_test
