// Splicing projected image features into the token sequence (SPEC §1.6; HF LLaVA's merge), batched and
// vectorised: every output slot is computed by index arithmetic (cumsum over per-token widths) and written
// with one scatter for text and one for image features. No per-token loop.
//
// Shapes: B rows, T input tokens, N images, F features per image, H hidden, M merged length.
// Two input conventions, the same model on valid tokens:
//   legacy    one placeholder id per image (llava-hf image_token_index, or -200 in LLaVA/Bunny); each expands
//             to F slots. As HF's legacy merge (transformers <= 4.44, LLaVA's prepare_inputs_labels_for_multimodal):
//             padding (attention_mask 0, anywhere) is removed, so the result is always right-padded:
//               valid slots: attention 1, position ids 0..len-1, text labels kept, image slots label -100;
//               padded slots: zero embeddings, attention 0, label -100, position id 1 (HF's legacy merge value).
//   expanded  F consecutive image-token ids per image (newer llava-hf processors); each takes one slot. As
//             transformers >= 4.45 (masked_scatter of the features into the image-token embeddings): nothing moves,
//             M = T; padded slots keep the embedding of their own (pad) token, attention 0, label -100 and
//             position id t (LlamaModel's default arange); other labels are kept as given.
// Text-only input (no image tokens, no images) takes the expanded convention's layout, as HF runs it unmerged.
// That is MergeLayout::kAsHuggingFace (what LvlmImpl::forward returns); MergeLayout::kCompact lays every input
// out as the legacy merge does (generation left-aligns right-padded rows of `lengths`).
// The convention is recognised from the count of image tokens (N or N·F; N with F = 1 is legacy, which is then
// the same sequence). Images are consumed in row-major order of their tokens.
// Rows are truncated to max_length merged tokens (0: no truncation); truncation can cut an image's slots.
#pragma once
#include <cstdint>

#include <ATen/Tensor.h>

namespace vr::model {

enum class MergeLayout { kCompact, kAsHuggingFace };

struct MergedSequence {
  at::Tensor inputs_embeds;     // [B,M,H]
  at::Tensor attention_mask;    // [B,M] int64
  at::Tensor position_ids;      // [B,M] int64
  at::Tensor labels;            // [B,M] int64, undefined when no labels were given
  at::Tensor image_token_mask;  // [B,M] bool, true at slots holding image features
  at::Tensor lengths;           // [B] int64 valid merged tokens per row (attention_mask.sum(1))
};

// input_ids [B,T] int64; text_embeds [B,T,H] (embeddings of input_ids, any value at image slots; at padded slots
// the embedding of the pad token, which the expanded and text-only layouts keep);
// attention_mask [B,T] or undefined (all ones); labels [B,T] or undefined; image_features [N,F,H] or undefined
// (text-only batch).
MergedSequence merge_image_features(const at::Tensor& input_ids, const at::Tensor& text_embeds,
                                    const at::Tensor& attention_mask, const at::Tensor& labels,
                                    const at::Tensor& image_features, int64_t image_token_id, int64_t max_length = 0,
                                    MergeLayout layout = MergeLayout::kCompact);

}  // namespace vr::model
