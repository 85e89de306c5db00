#include "vr/model/attention_mask.h"

#include <ATen/ATen.h>
#include <c10/util/Half.h>

#include "vr/core/error.h"

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

}  // namespace vr::model
