// Additive attention masks in Hugging Face's eager convention: 0 where a query may attend, the dtype's most
// negative finite value (torch.finfo(dtype).min) where it may not. Not -inf: a query whose keys are all masked
// (left padding) then gets a uniform softmax instead of NaN, exactly as HF computes it.
#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

namespace vr::model {

// attention_mask [B,S] (1 attend, 0 padding; undefined = all ones), queries at positions past_len..past_len+T-1 of
// S = past_len + T keys → [B,1,T,S] in `dtype` on `device`. Key j is visible to query i iff j <= past_len + i and
// attention_mask[b, j] != 0.
at::Tensor causal_attention_mask(const at::Tensor& attention_mask, int64_t batch, int64_t query_len,
                                 int64_t past_len, at::ScalarType dtype, at::Device device);

// True when every row of attention_mask [B,S] is ones then zeros (right padding or none; undefined: true), so a
// causal mask alone keeps every real query off the padded keys. One host read of a [B] result.
bool is_right_padded(const at::Tensor& attention_mask);

// Position ids for left-padded batches (HF generate): cumsum(mask) - 1, and 1 where mask == 0. mask [B,S] → [B,S].
at::Tensor position_ids_from_mask(const at::Tensor& attention_mask);

}  // namespace vr::model
