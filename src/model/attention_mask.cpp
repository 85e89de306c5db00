#include "vr/model/attention_mask.h"

#include <ATen/ATen.h>
#include <c10/util/Half.h>

#include <cmath>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/packed_segments.h"
#include "vr/model/segment_attention.h"

namespace vr::model {

static double dtype_min(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    default: VR_FAIL("attention masks need a floating dtype, got {}", c10::toString(dtype));
  }
}

at::Tensor causal_attention_mask(const at::Tensor& attention_mask, int64_t batch, int64_t query_len,
                                 int64_t past_len, at::ScalarType dtype, at::Device device) {
  const int64_t keys = past_len + query_len;
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  // Causal part [T,S]: query i sits at absolute position past_len + i and sees keys j <= past_len + i.
  auto q_pos = at::arange(past_len, keys, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(1);
  auto k_pos = at::arange(keys, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0);
  auto blocked = k_pos > q_pos;  // [T,S] bool
  auto blocked_b = blocked.unsqueeze(0).unsqueeze(0).expand({batch, 1, query_len, keys});
  if (attention_mask.defined()) {
    VR_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == batch && attention_mask.size(1) == keys,
             "attention_mask must be [{}, {}] (batch, past + new tokens), got {}", batch, keys,
             c10::str(attention_mask.sizes()));
    auto pad = (attention_mask.to(device) == 0).view({batch, 1, 1, keys});
    blocked_b = at::logical_or(blocked_b, pad);
  }
  return at::zeros({batch, 1, query_len, keys}, opts).masked_fill(blocked_b, dtype_min(dtype));
}

bool is_right_padded(const at::Tensor& attention_mask) {
  if (!attention_mask.defined() || attention_mask.dim() != 2 || attention_mask.size(1) < 2) return true;
  const int64_t S = attention_mask.size(1);
  auto on = attention_mask.ne(0);
  // A 0 → 1 step anywhere (a real token after padding) means left or inner padding.
  auto rises = on.narrow(1, 1, S - 1).logical_and(on.narrow(1, 0, S - 1).logical_not());
  return !rises.any().item<bool>();
}

at::Tensor position_ids_from_mask(const at::Tensor& attention_mask) {
  VR_CHECK(attention_mask.dim() == 2, "attention_mask must be [B,S], got {} dims", attention_mask.dim());
  auto m = attention_mask.to(at::kLong);
  auto pos = m.cumsum(-1) - 1;
  return pos.masked_fill(m == 0, 1);
}

// ---- packed rows (packed_segments.h, segment_attention.h) ---------------------------------------------------
// Here rather than in files of their own: in the unity build a new source file moves every later file into another
// batch (a rebuild of most of the library); split them out when the batches are rebuilt anyway.

int64_t PackedSegments::segments() const {
  int64_t n = 0;
  for (const auto& row : lengths) n += static_cast<int64_t>(row.size());
  return n;
}

PackedSegments merged_segments(const at::Tensor& segment_ids, const at::Tensor& is_image, int64_t image_width,
                               const at::Tensor& valid, const at::Tensor& merged_lengths) {
  VR_CHECK(segment_ids.dim() == 2 && segment_ids.sizes() == is_image.sizes() && segment_ids.sizes() == valid.sizes(),
           "packed segments: segment_ids {} must match the input ids", c10::str(segment_ids.sizes()));
  // One host copy of [B,T]: the segment loop of the attention needs the lengths on the host anyway.
  const auto seg = segment_ids.to(at::kCPU, at::kLong).contiguous();
  const auto img = is_image.to(at::kCPU, at::kBool).contiguous();
  const auto ok = valid.to(at::kCPU, at::kBool).contiguous();
  const auto lens = merged_lengths.to(at::kCPU, at::kLong).contiguous();
  const int64_t B = seg.size(0), T = seg.size(1);
  const int64_t* s = seg.data_ptr<int64_t>();
  const bool* im = img.data_ptr<bool>();
  const bool* v = ok.data_ptr<bool>();
  PackedSegments out;
  out.lengths.resize(B);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t>& row = out.lengths[b];
    int64_t current = -1;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t id = s[b * T + t];
      if (id < 0 || !v[b * T + t]) continue;
      VR_CHECK(id >= current, "packed segments: row {} has segment {} after segment {} (samples must be contiguous)",
               b, id, current);
      if (id != current) {
        row.push_back(0);
        current = id;
      }
      row.back() += im[b * T + t] ? image_width : 1;
    }
    // The merged truncation (model_max_length) cuts the row's tail: the last segments shrink or vanish.
    int64_t left = lens.data_ptr<int64_t>()[b];
    for (auto& len : row) {
      len = std::min(len, left);
      left -= len;
    }
    while (!row.empty() && row.back() == 0) row.pop_back();
  }
  return out;
}

at::Tensor segment_position_ids(const PackedSegments& s, int64_t M, at::Device device) {
  at::Tensor pos = at::zeros({s.rows(), M}, at::kLong);
  int64_t* p = pos.data_ptr<int64_t>();
  for (int64_t b = 0; b < s.rows(); ++b) {
    int64_t t = 0;
    for (int64_t len : s.lengths[b]) {
      VR_CHECK(t + len <= M, "packed segments: row {} holds {} merged tokens, more than the {} of the sequence", b,
               t + len, M);
      for (int64_t i = 0; i < len; ++i) p[b * M + t + i] = i;
      t += len;
    }
  }
  return pos.to(device);
}

namespace {

// [1,nKV,L,D] -> [1,nKV·r,L,D] (HF repeat_kv), as LlamaAttention's eager path.
at::Tensor segment_repeat_kv(const at::Tensor& x, int64_t r) {
  if (r == 1) return x;
  const auto B = x.size(0), nkv = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, nkv, r, S, D}).reshape({B, nkv * r, S, D});
}

// One sample: q [1,nH,L,D], k/v [1,nKV,L,D] -> [1,nH,L,D].
at::Tensor attend_segment(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool fused) {
  if (fused) return compat::scaled_dot_product_attention(q, k, v, at::Tensor(), /*is_causal=*/true);
  const int64_t L = q.size(2), r = q.size(1) / k.size(1);
  auto scores = at::matmul(q, segment_repeat_kv(k, r).transpose(2, 3)) / std::sqrt(static_cast<double>(q.size(3)));
  scores = scores + causal_attention_mask({}, 1, L, 0, scores.scalar_type(), q.device());  // [1,1,L,L]
  auto probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, segment_repeat_kv(v, r));
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
      parts.push_back(attend_segment(q.slice(0, b, b + 1).slice(2, t, t + len), k.slice(0, b, b + 1).slice(2, t, t + len),
                             v.slice(0, b, b + 1).slice(2, t, t + len), fused));
      t += len;
    }
    if (t < T) parts.push_back(at::zeros({1, nH, T - t, D}, q.options()));  // padding: no key, no value
    rows.push_back(parts.size() == 1 ? parts[0] : at::cat(parts, 2));
  }
  return B == 1 ? rows[0] : at::cat(rows, 0);
}

}  // namespace vr::model
