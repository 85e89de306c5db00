#include "vr/model/rope.h"

#include <ATen/ATen.h>

#include "vr/core/error.h"

namespace vr::model {

at::Tensor rope_inv_freq(int64_t head_dim, double theta) {
  VR_CHECK(head_dim > 0 && head_dim % 2 == 0, "RoPE needs an even head_dim, got {}", head_dim);
  VR_CHECK(theta > 0, "RoPE theta must be positive, got {}", theta);
  // Same op sequence as HF so the float32 table is bit-identical: int64 arange → float → /D → pow → reciprocal.
  auto exponent = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  return at::reciprocal(at::pow(theta, exponent));
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& position_ids, int64_t head_dim, double theta,
                                               at::ScalarType dtype) {
  VR_CHECK(position_ids.dim() == 2, "position_ids must be [B,T], got {} dims", position_ids.dim());
  auto inv_freq = rope_inv_freq(head_dim, theta).to(position_ids.device());
  // [B,T,1] * [D/2] → [B,T,D/2]: one float32 product per entry, exactly what HF's k=1 matmul computes.
  auto angles = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq;
  auto emb = at::cat({angles, angles}, -1);  // [B,T,D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor rotate_half(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, x.size(-1) - half);
  return at::cat({-x2, x1}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [B,1,T,D] broadcasts over heads
  return x * c + rotate_half(x) * s;
}

}  // namespace vr::model
