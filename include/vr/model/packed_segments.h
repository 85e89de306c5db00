// Packed rows (data.packing, docs/packing.md): where each sample lies in a row of the merged sequence, and what
// follows from it for the LLM: RoPE positions restarting at every sample (implemented in src/model/attention_mask.cpp).
// The attention over segments is in
// segment_attention.h. Shapes: B rows, T input tokens, M merged tokens (text + F slots per image).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/Tensor.h>

namespace vr::model {

// Per row, the merged lengths of its samples in order; they start at slot 0 and lie back to back, the rest of
// the row is padding. Known on the host: the attention loops over them.
struct PackedSegments {
  std::vector<std::vector<int64_t>> lengths;
  int64_t rows() const { return static_cast<int64_t>(lengths.size()); }
  int64_t segments() const;  // over all rows
};

// Token-level segment ids [B,T] (the collator's: sample number within the row, -1 at padding), the tokens that
// are image tokens [B,T] bool, the slots each image token takes (F for one placeholder per image, 1 for expanded
// runs), valid [B,T] bool (attention_mask != 0), and the merged length of each row [B] (after truncation) ->
// each sample's merged length. Segment ids must be non-decreasing along a row (samples are contiguous).
PackedSegments merged_segments(const at::Tensor& segment_ids, const at::Tensor& is_image, int64_t image_width,
                               const at::Tensor& valid, const at::Tensor& merged_lengths);

// [B,M] int64 position ids: 0..len-1 within every segment, 0 on padding. On `device`.
at::Tensor segment_position_ids(const PackedSegments& s, int64_t M, at::Device device);

}  // namespace vr::model
