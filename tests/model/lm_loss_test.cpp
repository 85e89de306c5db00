// The supervised-only, chunked causal-LM loss (vr/model/lm_loss.h) against the full-logits reference
// (lm_head(h).float() → causal_lm_loss): same value and gradients within fp32 rounding. Tolerances: 1e-6
// relative on the loss and 1e-5 absolute on gradients of O(0.1) — the chunked sums run in another order
// than one reduction (a few ulps per element), nothing more.
#include <cmath>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/llama.h"
#include "vr/model/lm_loss.h"
#include "support/random_llama.h"

namespace model_lm_loss_test {

using namespace vr::model;

namespace {

LlamaConfig small_config(bool tied) {
  LlamaConfig c = llama_shape(50, 16, 24, 2, 4, 2);
  c.max_position_embeddings = 32;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = tied;
  return c;
}

// [B,T] labels with prompt/padding -100 runs, like an LVLM micro-batch (about half supervised).
at::Tensor mixed_labels(int64_t B, int64_t T, int64_t V) {
  auto labels = torch::randint(0, V, {B, T}, torch::kLong);
  labels.masked_fill_(torch::rand({B, T}) < 0.5, -100);
  labels.index_put_({0, torch::indexing::Slice(0, 3)}, -100);
  return labels;
}

std::map<std::string, at::Tensor> grads_of(LlamaForCausalLM& m) {
  std::map<std::string, at::Tensor> g;
  for (auto& kv : m->named_parameters())
    g[kv.key()] = kv.value().grad().defined() ? kv.value().grad().clone() : torch::zeros_like(kv.value());
  return g;
}

void expect_close(const std::map<std::string, at::Tensor>& a, const std::map<std::string, at::Tensor>& b,
                  double atol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const double diff = (t - b.at(name)).abs().max().item<double>();
    EXPECT_LE(diff, atol) << name;
  }
}

}  // namespace

TEST(SupervisedLmLoss, MatchesFullLogitsLossAndGradientsInChunks) {
  torch::manual_seed(1);
  const int64_t B = 3, T = 11, H = 8, V = 37;
  auto labels = mixed_labels(B, T, V);
  for (int64_t chunk : {1, 4, 0}) {  // many chunks, a ragged last chunk, one chunk
    auto h0 = torch::randn({B, T, H}, torch::requires_grad());
    auto w0 = (torch::randn({V, H}) / 3).requires_grad_();
    auto h1 = h0.detach().clone().requires_grad_(), w1 = w0.detach().clone().requires_grad_();
    auto ref = causal_lm_loss(at::linear(h0, w0).to(at::kFloat), labels);
    ref.backward();
    SupervisedLoss got = supervised_lm_loss(h1, w1, labels, chunk);
    got.loss.backward();
    EXPECT_EQ(got.supervised, labels.narrow(1, 1, T - 1).ne(-100).sum().item<int64_t>());
    EXPECT_NEAR(got.loss.item<double>(), ref.item<double>(), 1e-6 * std::abs(ref.item<double>())) << chunk;
    EXPECT_LE((h1.grad() - h0.grad()).abs().max().item<double>(), 1e-6) << chunk;
    EXPECT_LE((w1.grad() - w0.grad()).abs().max().item<double>(), 1e-6) << chunk;
  }
}

// The model path the trainer uses (return_logits = false), with the trainer's two normalisations:
// batch (loss / accumulation) and token (loss · N, rescaled by the step's N): every parameter gradient equal,
// tied head included (its weight receives the embedding's and the head's gradients).
TEST(SupervisedLmLoss, ModelGradientsMatchTheFullLogitsPathTiedAndUntied) {
  torch::set_num_threads(1);
  for (bool tied : {false, true}) {
    auto c = small_config(tied);
    auto m = vr::test::random_llama(c, 7);
    LlamaInputs in;
    in.input_ids = torch::randint(0, c.vocab_size, {2, 9}, torch::kLong);
    in.attention_mask = torch::ones({2, 9}, torch::kLong);
    in.attention_mask.index_put_({1, torch::indexing::Slice(6, 9)}, 0);  // right padding
    in.labels = mixed_labels(2, 9, c.vocab_size);
    in.labels.index_put_({1, torch::indexing::Slice(6, 9)}, -100);
    const int64_t n_sup = in.labels.narrow(1, 1, 8).ne(-100).sum().item<int64_t>();
    for (double scale : {0.5, static_cast<double>(n_sup)}) {  // batch (1 / grad_accum 2) and token normalisation
      m->zero_grad();
      auto full = m->forward(in);
      (full.loss * scale).backward();
      auto g_full = grads_of(m);
      m->zero_grad();
      LlamaInputs sup = in;
      sup.return_logits = false;
      sup.loss_chunk_rows = 3;
      auto out = m->forward(sup);
      EXPECT_FALSE(out.logits.defined());
      EXPECT_EQ(out.supervised_tokens, n_sup);
      EXPECT_NEAR(out.loss.item<double>(), full.loss.item<double>(), 1e-6 * full.loss.item<double>());
      (out.loss * scale).backward();
      expect_close(grads_of(m), g_full, 1e-5 * scale);
    }
  }
}

// A micro-batch without a supervised token is loss 0 with a graph (backward runs, gradients are zero), where the
// mean over zero tokens would be NaN; an out-of-vocabulary label is an error; no grad mode computes no gradient.
TEST(SupervisedLmLoss, NoSupervisedTokenIsZeroAndBadLabelsAreErrors) {
  auto h = torch::randn({2, 5, 4}, torch::requires_grad());
  auto w = torch::randn({7, 4}, torch::requires_grad());
  auto none = torch::full({2, 5}, -100, torch::kLong);
  none.index_put_({0, 0}, 3);  // position 0 predicts nothing: still no supervised target
  SupervisedLoss z = supervised_lm_loss(h, w, none);
  EXPECT_EQ(z.supervised, 0);
  EXPECT_EQ(z.loss.item<double>(), 0.0);
  z.loss.backward();
  ASSERT_TRUE(h.grad().defined());
  EXPECT_EQ(h.grad().abs().max().item<double>(), 0.0);

  auto bad = torch::full({2, 5}, -100, torch::kLong);
  bad.index_put_({1, 2}, 7);  // == V
  EXPECT_THROW(supervised_lm_loss(h, w, bad), vr::Error);
  bad.index_put_({1, 2}, -5);
  EXPECT_THROW(supervised_lm_loss(h, w, bad), vr::Error);

  torch::NoGradGuard ng;
  auto labels = torch::randint(0, 7, {2, 5}, torch::kLong);
  SupervisedLoss e = supervised_lm_loss(h, w, labels);
  EXPECT_FALSE(e.loss.requires_grad());
  EXPECT_EQ(e.supervised, 8);
}

// bf16 weights: the chunks compute logits in bf16 and upcast them, as lm_head(h).float() does; the gradients are
// bf16 products. Tolerance: 1e-2 relative on the loss, 2e-2 on gradients (bf16 has 8 significant bits).
TEST(SupervisedLmLoss, Bf16MatchesTheFullLogitsPath) {
  torch::manual_seed(3);
  const int64_t V = 29, H = 16;
  auto labels = mixed_labels(2, 13, V);
  auto h0 = torch::randn({2, 13, H}).to(at::kBFloat16).requires_grad_();
  auto w0 = (torch::randn({V, H}) / 4).to(at::kBFloat16).requires_grad_();
  auto h1 = h0.detach().clone().requires_grad_(), w1 = w0.detach().clone().requires_grad_();
  auto ref = causal_lm_loss(at::linear(h0, w0).to(at::kFloat), labels);
  ref.backward();
  SupervisedLoss got = supervised_lm_loss(h1, w1, labels, 5);
  got.loss.backward();
  EXPECT_EQ(got.loss.scalar_type(), at::kFloat);
  EXPECT_NEAR(got.loss.item<double>(), ref.item<double>(), 1e-2 * ref.item<double>());
  EXPECT_EQ(h1.grad().scalar_type(), at::kBFloat16);
  EXPECT_EQ(w1.grad().scalar_type(), at::kBFloat16);
  const double gh = h0.grad().to(at::kFloat).abs().max().item<double>();
  const double gw = w0.grad().to(at::kFloat).abs().max().item<double>();
  EXPECT_LE((h1.grad() - h0.grad()).to(at::kFloat).abs().max().item<double>(), 2e-2 * gh);
  EXPECT_LE((w1.grad() - w0.grad()).to(at::kFloat).abs().max().item<double>(), 2e-2 * gw);
}

}  // namespace model_lm_loss_test
