// The causal-LM loss of training, computed where it counts: lm_head and the cross-entropy run only on positions
// whose next-token label is not -100 (image slots, prompts and padding are 40-90 % of an LVLM's merged sequence),
// in chunks, so the [tokens x V] logits (V = 128,256 for Llama-3) are never materialised whole.
//
// Shapes: B batch, T tokens, H hidden, V vocab, N supervised positions (labels[:,1:] != -100), C chunk rows.
// Same value and gradients as causal_lm_loss(lm_head(hidden).float(), labels) (mean over the N positions) within
// fp32 rounding: the sum runs chunk by chunk instead of in one reduction.
#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

namespace vr::model {

struct SupervisedLoss {
  at::Tensor loss;          // [] fp32 mean CE over the N positions; 0 (graph kept, zero gradients) when N == 0
  int64_t supervised = 0;   // N, known on the host (the one host sync of the loss)
};

// Rows of one chunk: about 2^26 fp32 logits (256 MiB) per chunk, at least 1 row: 512 rows at V = 128,256,
// 2,092 at V = 32,064.
int64_t default_loss_chunk_rows(int64_t vocab);

// hidden [B,T,H] (final norm applied), lm_head_weight [V,H], labels [B,T] int64 (-100 ignored) → loss of
// position t predicting labels[:, t+1]. chunk_rows <= 0: default_loss_chunk_rows(V).
// In training (grad mode on and hidden or the weight requiring grad) the gradients of each chunk are computed
// right after its forward (softmax − one-hot) and its logits freed, so backward stores [N,H] (+ [V,H] fp32 when
// the head is trainable) instead of [N,V]. Throws vr::Error when a label outside [0, V) is not -100.
SupervisedLoss supervised_lm_loss(const at::Tensor& hidden, const at::Tensor& lm_head_weight,
                                  const at::Tensor& labels, int64_t chunk_rows = 0);

}  // namespace vr::model
