// Gradients of bf16 parameters accumulate over micro-batches in fp32 (train_step: use_fp32_gradients), not in
// bf16: 16 micro-batches of a bf16 model, against the fp64 sum of the same 16 micro-batch gradients.
//
// Each micro-batch's gradient is computed in bf16 either way (autograd hands AccumulateGrad a bf16 tensor); what
// the accumulation adds is the rounding of the running sum. In bf16 it keeps 8 significant bits at every add, so
// with 16 same-sign terms the sum drifts by ~1e-3 relative; in fp32 the 16 bf16 terms add up almost exactly.
// Observed here (LibTorch 1.13, CPU): 4.9e-3 in bf16, 0 (exact) in fp32; the test asks for 100x less and < 1e-5.
#include <cstdio>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/train/train_step.h"

namespace train_fp32_accumulation_test {

namespace {

constexpr int64_t kMicroBatches = 16;

// Inputs of micro-batch a: positive, so the gradients of every micro-batch share their sign and the sum grows.
at::Tensor inputs(int64_t a) {
  return (torch::arange(32 * 48, torch::kFloat).reshape({32, 48}).mul(0.37 + 0.011 * a).sin().abs() + 0.1);
}

at::Tensor weights() {
  return (torch::arange(48 * 24, torch::kFloat).reshape({48, 24}).cos() * 0.2).to(at::kBFloat16).requires_grad_();
}

// d/dW mean((x_a W)^2) / A: micro-batch a's loss, in bf16.
at::Tensor loss(const at::Tensor& w, int64_t a) {
  return inputs(a).to(at::kBFloat16).matmul(w).square().mean() / static_cast<double>(kMicroBatches);
}

// The exact sum (fp64) of the 16 bf16 micro-batch gradients, each computed alone.
at::Tensor exact_sum() {
  at::Tensor sum = torch::zeros({48, 24}, torch::kDouble);
  for (int64_t a = 0; a < kMicroBatches; ++a) {
    at::Tensor w = weights();
    loss(w, a).backward();
    sum += w.grad().to(torch::kDouble);
  }
  return sum;
}

// The same micro-batches through autograd's accumulation into .grad(): bf16, or fp32 after use_fp32_gradients.
at::Tensor accumulated(bool fp32_acc) {
  at::Tensor w = weights();
  if (fp32_acc) EXPECT_EQ(vr::train::use_fp32_gradients({w}), 1);
  for (int64_t a = 0; a < kMicroBatches; ++a) loss(w, a).backward();
  return w.grad();
}

double relative_error(const at::Tensor& g, const at::Tensor& ref) {
  return ((g.to(at::kDouble) - ref).norm() / ref.norm()).item<double>();
}

}  // namespace

TEST(Fp32Accumulation, Bf16GradientsAccumulateInFp32) {
  const at::Tensor ref = exact_sum();
  const at::Tensor in_bf16 = accumulated(false), in_fp32 = accumulated(true);
  EXPECT_EQ(in_bf16.scalar_type(), at::kBFloat16);
  EXPECT_EQ(in_fp32.scalar_type(), at::kFloat) << "autograd must add into the fp32 .grad() in place";
  const double before = relative_error(in_bf16, ref), after = relative_error(in_fp32, ref);
  std::printf("accumulation of %lld bf16 micro-batch gradients: relative error %.3g in bf16, %.3g in fp32\n",
              static_cast<long long>(kMicroBatches), before, after);
  EXPECT_GT(before, 1e-4) << "bf16 accumulation should visibly round (else the test shows nothing)";
  EXPECT_LT(after, before / 100);
  EXPECT_LT(after, 1e-5);
}

TEST(Fp32Accumulation, Fp32ParametersAreLeftAlone) {
  at::Tensor w = torch::ones({3}).requires_grad_();
  EXPECT_EQ(vr::train::use_fp32_gradients({w}), 0);
  EXPECT_FALSE(w.grad().defined());
}

}  // namespace train_fp32_accumulation_test
