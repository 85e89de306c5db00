#include "vr/data/batch.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "vr/core/error.h"

namespace vr::data {

Batch collate(std::vector<PreparedSample> samples, const CollateOptions& opt) {
  VR_CHECK(!samples.empty(), "collate: empty batch");
  const int64_t B = static_cast<int64_t>(samples.size());
  int64_t T = 0;
  for (const auto& s : samples) {
    VR_CHECK(s.tokens.input_ids.size() == s.tokens.labels.size(), "sample '{}': {} input ids but {} labels", s.id,
             s.tokens.input_ids.size(), s.tokens.labels.size());
    T = std::max<int64_t>(T, static_cast<int64_t>(s.tokens.input_ids.size()));
  }
  T = std::min(T, opt.model_max_length);

  Batch batch;
  batch.input_ids = at::full({B, T}, opt.pad_id, at::kLong);
  batch.labels = at::full({B, T}, kIgnoreIndex, at::kLong);
  batch.attention_mask = at::zeros({B, T}, at::kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  int64_t* mask = batch.attention_mask.data_ptr<int64_t>();
  std::vector<at::Tensor> images;
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = samples[b];
    const int64_t len = std::min<int64_t>(T, static_cast<int64_t>(s.tokens.input_ids.size()));
    int64_t placeholders = 0;
    for (int64_t t = 0; t < len; ++t) {
      const int64_t id = s.tokens.input_ids[t];
      ids[b * T + t] = id;
      labels[b * T + t] = s.tokens.labels[t];
      placeholders += id == kImageTokenIndex;
    }
    // attention_mask = input_ids != pad over the whole padded row; with pad == eos the real eos ids count as
    // real (the reference's -300 sentinel), so the mask is exactly the unpadded prefix.
    for (int64_t t = 0; t < len; ++t) mask[b * T + t] = (opt.pad_is_eos || ids[b * T + t] != opt.pad_id) ? 1 : 0;
    VR_CHECK(placeholders <= static_cast<int64_t>(s.pixels.size()), "sample '{}': {} image placeholders but {} images",
             s.id, placeholders, s.pixels.size());
    for (int64_t k = 0; k < placeholders; ++k) images.push_back(s.pixels[k]);
    batch.ids.push_back(s.id);
    batch.sample_indices.push_back(s.index);
  }
  batch.num_text_tokens = batch.attention_mask.sum().item<int64_t>();
  if (!images.empty()) batch.pixel_values = at::stack(images);
  return batch;
}

}  // namespace vr::data
