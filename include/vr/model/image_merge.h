// Splicing projected image features into the token sequence (SPEC §1.6; HF LLaVA's merge), batched and
// vectorised: every output slot is computed by index arithmetic (cumsum over per-token widths) and written
// with one scatter for text and one for image features. No per-token loop.
//
// Shapes: B rows, T input tokens, N images, F features per image, H hidden, M merged length.
// Two input conventions, same merged sequence:
//   legacy    one placeholder id per image (llava-hf image_token_index, or -200 in LLaVA/Bunny); each expands
//             to F slots;
//   expanded  F consecutive image-token ids per image (newer llava-hf processors); each takes one slot.
// The convention is recognised from the count of image tokens (N or N·F). Images are consumed in row-major
// order of their tokens. Padding (attention_mask 0, anywhere) is removed, so the result is always right-padded:
//   valid slots: attention 1, position ids 0..len-1, text labels kept, image slots label -100;
//   padded slots: zero embeddings, attention 0, label -100, position id 1 (HF's legacy merge value).
// Rows are truncated to max_length merged tokens (0: no truncation); truncation can cut an image's slots.
#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

namespace vr::model {

struct MergedSequence {
  at::Tensor inputs_embeds;     // [B,M,H]
  at::Tensor attention_mask;    // [B,M] int64
  at::Tensor position_ids;      // [B,M] int64
  at::Tensor labels;            // [B,M] int64, undefined when no labels were given
  at::Tensor image_token_mask;  // [B,M] bool, true at slots holding image features
  at::Tensor lengths;           // [B] int64 valid merged tokens per row
};

// input_ids [B,T] int64; text_embeds [B,T,H] (embeddings of input_ids, any value at image/pad slots);
// attention_mask [B,T] or undefined (all ones); labels [B,T] or undefined; image_features [N,F,H] or undefined
// (text-only batch).
MergedSequence merge_image_features(const at::Tensor& input_ids, const at::Tensor& text_embeds,
                                    const at::Tensor& attention_mask, const at::Tensor& labels,
                                    const at::Tensor& image_features, int64_t image_token_id, int64_t max_length = 0);

}  // namespace vr::model
