// Attention over packed rows (data.packing): every sample attends causally to itself only, as it would alone.
// Computed segment by segment, never as a dense [T,T] block mask: the cost is sum(len^2) instead of T^2 per row,
// and no mask tensor exists on any device.
//
//   eager   per segment q·kᵀ/sqrt(D) + causal mask [L,L] (finfo.min), fp32 softmax, ·v: the ops of
//           LlamaAttention's eager path on the sample alone (exact to its unpacked logits up to summation order).
//   fused   per segment scaled_dot_product_attention(is_causal) (LibTorch >= 2.0; torch_compat.h): on CUDA that
//           runs the flash / memory-efficient kernel of each segment. The variable-length kernels with cu_seqlens
//           (at::_flash_attention_forward, _efficient_attention_forward) would take the whole row in one launch,
//           but they are private ATen ops whose C++ signatures changed between 2.1, 2.3 and 2.5; per-segment SDPA
//           is the public API on every 2.x. UNTESTED ON GPU: this project's machines had none when it was written.
//
// Shapes: B rows, nH query heads, nKV key/value heads, T merged tokens, D head_dim, L a segment's length.
// Implemented in src/model/attention_mask.cpp (with the masks).
#pragma once
#include <ATen/Tensor.h>

#include "vr/model/packed_segments.h"

namespace vr::model {

// q [B,nH,T,D], k/v [B,nKV,T,D] (after RoPE) -> [B,nH,T,D]; padded slots (past a row's segments) get zeros.
at::Tensor segment_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedSegments& segs,
                             bool fused);

}  // namespace vr::model
