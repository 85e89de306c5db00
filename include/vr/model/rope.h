// Rotary position embeddings in Hugging Face's "rotate_half" (non-interleaved) layout.
// D = head_dim; pairs are (x[i], x[i + D/2]), not (x[2i], x[2i+1]) as in Meta's original weights.
#pragma once
#include <cstdint>
#include <utility>

#include <ATen/Tensor.h>

namespace vr::model {

// inv_freq[i] = 1 / theta^(2i/D), i < D/2, float32 (HF: 1.0 / base ** (arange(0, D, 2).float() / D)).
at::Tensor rope_inv_freq(int64_t head_dim, double theta);

// position_ids [B,T] int64 → (cos, sin) [B,T,D] in `dtype`. Angles p·inv_freq, cat(angles, angles), cos/sin are
// computed in float32 and only then cast (as HF does, so bf16 models see the same rounded tables).
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& position_ids, int64_t head_dim, double theta,
                                               at::ScalarType dtype);

// rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2]).
at::Tensor rotate_half(const at::Tensor& x);

// x [B,heads,T,D], cos/sin [B,T,D] → x·cos + rotate_half(x)·sin.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace vr::model
