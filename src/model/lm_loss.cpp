// Chunked, supervised-only causal-LM loss (see lm_loss.h). Shapes: B batch, T tokens, H hidden, V vocab,
// N supervised positions, n rows of one chunk.
#include "vr/model/lm_loss.h"

#include <algorithm>
#include <tuple>

#include <torch/torch.h>

#include "vr/core/error.h"

namespace vr::model {

int64_t default_loss_chunk_rows(int64_t vocab) {
  constexpr int64_t kLogitsPerChunk = int64_t{1} << 26;  // 2^26 fp32 logits = 256 MiB
  return std::max<int64_t>(1, kLogitsPerChunk / std::max<int64_t>(1, vocab));
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// loss = (1/N) Σ_i [logsumexp(h_i·Wᵀ) − h_i·W_{t_i}] over the N rows. Its gradient with respect to the logits,
// (softmax − one-hot)/N, needs nothing but the chunk's own logits, so forward computes it while they are live
// and turns it into dL/dh [n,H] = g·W and dL/dW [V,H] += gᵀ·h; backward only scales both by the incoming
// gradient (a scalar). Peak extra memory: one chunk's [n,V] fp32 logits (reused in place for g) and its copy
// in the weight dtype when that is not fp32.
struct LinearCrossEntropy : torch::autograd::Function<LinearCrossEntropy> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor h, at::Tensor w, at::Tensor targets, int64_t chunk,
                            bool grad_h, bool grad_w) {
    const int64_t N = h.size(0);
    const double inv_n = 1.0 / static_cast<double>(N);
    const auto f32 = h.options().dtype(at::kFloat);
    at::Tensor loss_sum = at::zeros({}, f32);
    at::Tensor gh = grad_h ? at::empty_like(h) : at::Tensor();
    // dL/dW accumulates over chunks in fp32 (bf16 weights: one rounding per chunk would add up over 30+ chunks).
    const auto acc_dtype = w.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    at::Tensor gw = grad_w ? at::zeros(w.sizes(), w.options().dtype(acc_dtype)) : at::Tensor();
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      const auto hc = h.narrow(0, s, n);                         // [n,H]
      const auto tc = targets.narrow(0, s, n).unsqueeze(1);      // [n,1]
      at::Tensor logits = at::mm(hc, w.t());                     // [n,V] in the model dtype, as lm_head(h)
      if (logits.scalar_type() != at::kFloat && logits.scalar_type() != at::kDouble)
        logits = logits.to(at::kFloat);                          // HF upcasts the logits before the loss
      const auto lse = at::logsumexp(logits, {1});               // [n]
      loss_sum += (lse - logits.gather(1, tc).squeeze(1)).sum().to(at::kFloat);
      if (!grad_h && !grad_w) continue;
      auto g = logits.sub_(lse.unsqueeze(1)).exp_();             // softmax, in the logits' memory
      g.scatter_add_(1, tc, at::full({n, 1}, -1.0, g.options()));  // − one-hot
      g.mul_(inv_n);
      const auto gd = g.to(w.scalar_type());
      if (grad_h) gh.narrow(0, s, n).copy_(at::mm(gd, w));      // [n,H]
      if (grad_w) {
        if (gw.scalar_type() == w.scalar_type()) gw.addmm_(gd.t(), hc);
        else gw.add_(at::mm(gd.t(), hc));                       // [V,H] product in bf16/fp16, summed in fp32
      }
    }
    ctx->saved_data["gh"] = gh;
    ctx->saved_data["gw"] = gw;
    ctx->saved_data["w_dtype"] = static_cast<int64_t>(w.scalar_type());
    return loss_sum * inv_n;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor go = grad_out[0];  // [] fp32
    at::Tensor gh = ctx->saved_data["gh"].toTensor(), gw = ctx->saved_data["gw"].toTensor();
    const auto w_dtype = static_cast<at::ScalarType>(ctx->saved_data["w_dtype"].toInt());
    at::Tensor dh = gh.defined() ? gh * go.to(gh.scalar_type()) : at::Tensor();
    at::Tensor dw = gw.defined() ? (gw * go.to(gw.scalar_type())).to(w_dtype) : at::Tensor();
    return {dh, dw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};  // one per forward argument
  }
};

}  // namespace

SupervisedLoss supervised_lm_loss(const at::Tensor& hidden, const at::Tensor& lm_head_weight,
                                  const at::Tensor& labels, int64_t chunk_rows) {
  VR_CHECK(hidden.dim() == 3, "supervised_lm_loss: hidden must be [B,T,H], got {}", c10::str(hidden.sizes()));
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
  VR_CHECK(lm_head_weight.dim() == 2 && lm_head_weight.size(1) == H,
           "supervised_lm_loss: lm_head weight must be [V,{}], got {}", H, c10::str(lm_head_weight.sizes()));
  VR_CHECK(labels.dim() == 2 && labels.size(0) == B && labels.size(1) == T,
           "supervised_lm_loss: labels must be [{}, {}], got {}", B, T, c10::str(labels.sizes()));
  const int64_t V = lm_head_weight.size(0);
  if (chunk_rows <= 0) chunk_rows = default_loss_chunk_rows(V);

  // next[b,t] = labels[b,t+1], the token position t predicts; the last position predicts nothing (-100).
  const auto lab = labels.to(hidden.device(), at::kLong);
  const auto next =
      at::cat({lab.narrow(1, 1, std::max<int64_t>(T - 1, 0)), at::full({B, 1}, -100, lab.options())}, 1).reshape(-1);
  const auto valid = next.ne(-100);                                                    // [B·T]
  const auto bad = valid.logical_and(next.lt(0).logical_or(next.ge(V)));
  // The one host sync of the loss: N and the count of labels outside the vocabulary, read together.
  const auto counts = at::stack({valid.sum(), bad.sum()}).to(at::kCPU);
  const int64_t N = counts[0].item<int64_t>(), n_bad = counts[1].item<int64_t>();
  VR_CHECK(n_bad == 0, "labels hold {} target(s) outside [0, {}) that are not -100", n_bad, V);
  if (N == 0) {
    // Nothing to learn from: a zero that keeps the graph (zero gradients), never NaN even if hidden holds one.
    return {hidden.reshape(-1).narrow(0, 0, 0).sum().to(at::kFloat), 0};
  }
  // Row indices of the supervised positions in order. A stable descending sort of the 0/1 flags puts them first
  // without the second host sync nonzero() would cost on a GPU.
  const auto order = std::get<1>(at::sort(valid.to(at::kInt), /*stable=*/true, 0, /*descending=*/true)).narrow(0, 0, N);
  const auto h = hidden.reshape({B * T, H}).index_select(0, order);  // [N,H]
  const auto targets = next.index_select(0, order);                   // [N]
  const bool grad = at::GradMode::is_enabled();
  at::Tensor loss = LinearCrossEntropy::apply(h, lm_head_weight, targets, chunk_rows, grad && h.requires_grad(),
                                              grad && lm_head_weight.requires_grad());
  return {loss, N};
}

}  // namespace vr::model
