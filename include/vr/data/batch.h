// A training batch and the collator that builds it (LLaVA/Bunny DataCollatorForSupervisedDataset).
// Legend: B = samples in the batch, T = longest sequence (after truncation), N = images kept, H x W = image size.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

#include "vr/data/label_masking.h"

namespace vr::data {

struct Batch {
  at::Tensor input_ids;       // [B,T] int64, right-padded with pad id; image placeholders = -200 (one per image)
  at::Tensor labels;          // [B,T] int64, -100 on ignored positions and padding
  at::Tensor attention_mask;  // [B,T] int64, 1 real / 0 pad
  at::Tensor pixel_values;    // [N,3,H,W] float32, images of the batch in order (N may be 0: undefined tensor)
  at::Tensor segment_ids;     // packed rows only (data/packing.h): [B,T] int64, each token's sample number within
                              // its row (0, 1, ...), -1 at padding; undefined for unpacked batches
  std::vector<std::string> ids;         // sample ids
  std::vector<int64_t> sample_indices;  // dataset indices
  int64_t num_text_tokens = 0;          // non-pad tokens (for tokens/s)
};

// One sample ready for collation.
struct PreparedSample {
  TokenizedSample tokens;
  std::vector<at::Tensor> pixels;  // one float32 [3,H,W] per image, in placeholder order
  std::string id;
  int64_t index = 0;
};

struct CollateOptions {
  int64_t pad_id = 0;
  // pad == eos (Bunny / Llama-3): real eos ids stay attended (the reference swaps them for a sentinel while
  // computing the mask), only the padding gets mask 0.
  bool pad_is_eos = false;
  int64_t model_max_length = 2048;
};

// Right-pads input_ids with pad_id and labels with -100, truncates both to model_max_length (the -200
// placeholder counts as one token here), attention_mask = input_ids != pad_id (see pad_is_eos). pixel_values
// holds, per sample in order, the images whose placeholder survived truncation: N == count(input_ids == -200).
Batch collate(std::vector<PreparedSample> samples, const CollateOptions& opt);

}  // namespace vr::data
