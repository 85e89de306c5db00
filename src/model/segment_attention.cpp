#include "vr/model/segment_attention.h"

#include <cmath>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/attention_mask.h"

namespace vr::model {

namespace {

// [1,nKV,L,D] -> [1,nKV·r,L,D] (HF repeat_kv), as LlamaAttention's eager path.
at::Tensor repeat_kv(const at::Tensor& x, int64_t r) {
  if (r == 1) return x;
  const auto B = x.size(0), nkv = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, nkv, r, S, D}).reshape({B, nkv * r, S, D});
}

// One sample: q [1,nH,L,D], k/v [1,nKV,L,D] -> [1,nH,L,D].
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool fused) {
  if (fused) return compat::scaled_dot_product_attention(q, k, v, at::Tensor(), /*is_causal=*/true);
  const int64_t L = q.size(2), r = q.size(1) / k.size(1);
  auto scores = at::matmul(q, repeat_kv(k, r).transpose(2, 3)) / std::sqrt(static_cast<double>(q.size(3)));
  scores = scores + causal_attention_mask({}, 1, L, 0, scores.scalar_type(), q.device());  // [1,1,L,L]
  auto probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, repeat_kv(v, r));
}

}  // namespace

at::Tensor segment_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedSegments& segs,
                             bool fused) {
  const int64_t B = q.size(0), nH = q.size(1), T = q.size(2), D = q.size(3);
  VR_CHECK(segs.rows() == B, "segment attention: {} rows of segments for a batch of {}", segs.rows(), B);
  VR_CHECK(q.size(1) % k.size(1) == 0, "segment attention: {} query heads for {} key/value heads", q.size(1), k.size(1));
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<at::Tensor> parts;
    int64_t t = 0;
    for (int64_t len : segs.lengths[b]) {
      VR_CHECK(len > 0 && t + len <= T, "segment attention: row {} segment [{}, {}) outside the {} tokens", b, t,
               t + len, T);
      parts.push_back(attend(q.slice(0, b, b + 1).slice(2, t, t + len), k.slice(0, b, b + 1).slice(2, t, t + len),
                             v.slice(0, b, b + 1).slice(2, t, t + len), fused));
      t += len;
    }
    if (t < T) parts.push_back(at::zeros({1, nH, T - t, D}, q.options()));  // padding: no key, no value
    rows.push_back(parts.size() == 1 ? parts[0] : at::cat(parts, 2));
  }
  return B == 1 ? rows[0] : at::cat(rows, 0);
}

}  // namespace vr::model
