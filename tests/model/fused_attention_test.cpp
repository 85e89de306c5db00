// Fused attention (scaled_dot_product_attention, LibTorch >= 2.0) against the eager reference path: same outputs
// and gradients within fp32 rounding, for Llama attention with grouped-query heads (padded and right-padded
// causal-only batches, gradient checkpointing) and for the vision tower. On LibTorch 1.13 the fused path does not
// exist: the tests check that asking for it is a clear error and skip the comparison with a message.
// Tolerance: 1e-5 absolute on outputs and gradients of O(1) — the fused kernels block the softmax and its sums
// differently (online softmax), which moves fp32 results by a few ulps; a real difference (mask, scale, head
// grouping) is O(0.1).
#include <cmath>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/attention_backend.h"
#include "vr/model/attention_mask.h"
#include "vr/model/llama.h"
#include "vr/model/vision_transformer.h"
#include "support/random_llama.h"

namespace model_fused_attention_test {

using namespace vr::model;

namespace {

LlamaConfig gqa_config() {
  LlamaConfig c = llama_shape(40, 32, 48, 2, 4, 2);  // GQA: 2 query heads per key/value head
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  return c;
}

std::map<std::string, at::Tensor> grads(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> g;
  for (auto& kv : m.named_parameters())
    if (kv.value().grad().defined()) g[kv.key()] = kv.value().grad().clone();
  return g;
}

double max_diff(const std::map<std::string, at::Tensor>& a, const std::map<std::string, at::Tensor>& b) {
  double d = 0;
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [k, t] : a) d = std::max(d, (t - b.at(k)).abs().max().item<double>());
  return d;
}

// Loss and gradients of one forward/backward with the attention set to `fused`.
struct Run {
  at::Tensor loss, logits;
  std::map<std::string, at::Tensor> g;
};
Run run_llama(LlamaForCausalLM& m, const LlamaInputs& in, bool fused) {
  set_fused_attention(*m, fused);
  m->zero_grad();
  auto out = m->forward(in);
  out.loss.backward();
  return {out.loss.detach(), out.logits.defined() ? out.logits.detach() : at::Tensor(), grads(*m)};
}

}  // namespace

TEST(FusedAttention, IsAClearErrorWithoutSdpa) {
  if (vr::compat::sdpa_available()) GTEST_SKIP() << "LibTorch " << vr::compat::torch_version() << " has SDPA";
  auto m = vr::test::random_llama(gqa_config(), 1);
  EXPECT_THROW(set_fused_attention(*m, true), vr::Error);
  EXPECT_EQ(set_fused_attention(*m, false), 2);  // both decoder layers' attention modules
  EXPECT_THROW(vr::compat::scaled_dot_product_attention(torch::zeros({1, 2, 3, 4}), torch::zeros({1, 1, 3, 4}),
                                                        torch::zeros({1, 1, 3, 4}), at::Tensor(), true),
               vr::Error);
}

TEST(FusedAttention, LlamaMatchesEagerWithGqaPaddingAndCheckpointing) {
  if (!vr::compat::sdpa_available())
    GTEST_SKIP() << "LibTorch " << vr::compat::torch_version()
                 << " has no scaled_dot_product_attention (>= 2.0): the eager path is the only one here";
  torch::set_num_threads(1);
  auto c = gqa_config();
  auto m = vr::test::random_llama(c, 2);
  LlamaInputs in;
  in.input_ids = torch::randint(0, c.vocab_size, {3, 12}, torch::kLong);
  in.attention_mask = torch::ones({3, 12}, torch::kLong);
  in.attention_mask.index_put_({1, torch::indexing::Slice(8, 12)}, 0);  // right padding
  in.labels = in.input_ids.clone().masked_fill_(in.attention_mask.eq(0), -100);
  in.labels.index_put_({0, torch::indexing::Slice(0, 4)}, -100);

  // 1) Full logits with the dense mask: every position, padded ones included, equals eager.
  auto eager = run_llama(m, in, false);
  auto fused = run_llama(m, in, true);
  EXPECT_LE((fused.logits - eager.logits).abs().max().item<double>(), 1e-5);
  EXPECT_NEAR(fused.loss.item<double>(), eager.loss.item<double>(), 1e-6);
  EXPECT_LE(max_diff(fused.g, eager.g), 1e-5);

  // 2) Training path (loss only): right padding → causal only, no dense mask; same loss and gradients.
  LlamaInputs train = in;
  train.return_logits = false;
  ASSERT_TRUE(is_right_padded(train.attention_mask));
  auto fused_train = run_llama(m, train, true);
  EXPECT_NEAR(fused_train.loss.item<double>(), eager.loss.item<double>(), 1e-6);
  EXPECT_LE(max_diff(fused_train.g, eager.g), 1e-5);

  // 3) Left padding is not right padding: such a batch runs eager even with fused attention on (the fused kernels'
  //    gradients on fully masked rows are O(1) off: llama.cpp), so it equals eager.
  LlamaInputs left = train;
  left.attention_mask = torch::ones({3, 12}, torch::kLong);
  left.attention_mask.index_put_({2, torch::indexing::Slice(0, 3)}, 0);
  left.labels = left.input_ids.clone().masked_fill_(left.attention_mask.eq(0), -100);
  EXPECT_FALSE(is_right_padded(left.attention_mask));
  auto e_left = run_llama(m, left, false), f_left = run_llama(m, left, true);
  EXPECT_NEAR(f_left.loss.item<double>(), e_left.loss.item<double>(), 1e-6);
  EXPECT_LE(max_diff(f_left.g, e_left.g), 1e-5);

  // 4) Gradient checkpointing replays the fused layers (undefined mask travels as an empty tensor).
  m->set_gradient_checkpointing(true);
  auto fused_ckpt = run_llama(m, train, true);
  m->set_gradient_checkpointing(false);
  EXPECT_NEAR(fused_ckpt.loss.item<double>(), eager.loss.item<double>(), 1e-6);
  EXPECT_LE(max_diff(fused_ckpt.g, eager.g), 1e-5);

  // 5) output_attentions still works (eager probabilities) with fused attention switched on.
  LlamaInputs probe = in;
  probe.output_attentions = true;
  set_fused_attention(*m, true);
  auto out = m->forward(probe);
  ASSERT_EQ(out.attentions.size(), 2u);
  EXPECT_LE((out.logits - eager.logits).abs().max().item<double>(), 1e-5);
}

TEST(FusedAttention, VisionAttentionMatchesEagerClipAndSiglipOrder) {
  if (!vr::compat::sdpa_available())
    GTEST_SKIP() << "LibTorch " << vr::compat::torch_version()
                 << " has no scaled_dot_product_attention (>= 2.0): the eager path is the only one here";
  torch::set_num_threads(1);
  for (VisionFamily family : {VisionFamily::kClip, VisionFamily::kSiglip}) {
    VisionConfig c;
    c.family = family;
    c.hidden_size = 32;
    c.num_attention_heads = 4;
    torch::manual_seed(3);
    VisionAttention a(c);
    auto x = torch::randn({2, 9, 32}, torch::requires_grad());
    a->fused = false;
    auto y0 = a->forward(x);
    y0.pow(2).sum().backward();
    auto gx0 = x.grad().clone();
    auto gq0 = a->q_proj->weight.grad().clone();
    x.mutable_grad().zero_();
    a->zero_grad();
    ASSERT_EQ(set_fused_attention(*a, true), 1);
    auto y1 = a->forward(x);
    y1.pow(2).sum().backward();
    EXPECT_LE((y1 - y0).abs().max().item<double>(), 1e-5) << c.model_type();
    EXPECT_LE((x.grad() - gx0).abs().max().item<double>(), 1e-5) << c.model_type();
    EXPECT_LE((a->q_proj->weight.grad() - gq0).abs().max().item<double>(), 1e-5) << c.model_type();
  }
}

}  // namespace model_fused_attention_test
