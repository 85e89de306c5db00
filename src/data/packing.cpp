#include "vr/data/packing.h"

#include <algorithm>
#include <numeric>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/data/sampler.h"

namespace vr::data {

std::vector<std::vector<int64_t>> first_fit_decreasing(const std::vector<int64_t>& lengths, int64_t capacity) {
  VR_CHECK(capacity > 0, "packing: pack_length must be positive, got {}", capacity);
  std::vector<int64_t> by_length(lengths.size());
  std::iota(by_length.begin(), by_length.end(), 0);
  std::stable_sort(by_length.begin(), by_length.end(), [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> room;  // free slots per row (0 for an over-long item's row)
  for (int64_t item : by_length) {
    const int64_t len = std::max<int64_t>(lengths[item], 0);
    if (len > capacity) {  // its own row, truncated as unpacked
      rows.push_back({item});
      room.push_back(0);
      continue;
    }
    // First fit: a linear scan. Buffers are ~1e3 items and rows ~1e2, so this stays far below the cost of
    // tokenising the buffer; a segment tree would only matter for buffers of 1e5+.
    size_t r = 0;
    while (r < rows.size() && room[r] < len) ++r;
    if (r == rows.size()) {
      rows.emplace_back();
      room.push_back(capacity);
    }
    rows[r].push_back(item);
    room[r] -= len;
  }
  return rows;
}

PackPlan plan_packs(const std::vector<int64_t>& order, const std::vector<int64_t>& lengths, int64_t pack_length,
                    int64_t buffer, uint64_t& rng_state) {
  VR_CHECK(buffer > 0, "packing: data.pack_buffer must be positive, got {}", buffer);
  PackPlan plan;
  const int64_t n = static_cast<int64_t>(order.size());
  for (int64_t begin = 0; begin < n; begin += buffer) {
    const int64_t end = std::min(n, begin + buffer);
    std::vector<int64_t> buf_lengths;
    for (int64_t k = begin; k < end; ++k) {
      VR_CHECK(order[k] >= 0 && order[k] < static_cast<int64_t>(lengths.size()), "packing: record {} has no length",
               order[k]);
      buf_lengths.push_back(lengths[order[k]]);
    }
    auto rows = first_fit_decreasing(buf_lengths, pack_length);
    const auto shuffled = random_permutation(static_cast<int64_t>(rows.size()), rng_state);
    for (int64_t r : shuffled) {
      std::vector<int64_t> row;
      int64_t used = 0;
      for (int64_t pos : rows[r]) {
        row.push_back(order[begin + pos]);
        used += buf_lengths[pos];
      }
      plan.stats.rows += 1;
      plan.stats.samples += static_cast<int64_t>(row.size());
      plan.stats.tokens += used;
      plan.stats.slots += std::max(used, pack_length);
      plan.rows.push_back(std::move(row));
    }
  }
  return plan;
}

int64_t merged_length(const std::vector<int64_t>& input_ids, int64_t image_tokens, int64_t model_max_length) {
  const int64_t kept = std::min<int64_t>(static_cast<int64_t>(input_ids.size()), model_max_length);
  int64_t len = 0;
  for (int64_t t = 0; t < kept; ++t) len += input_ids[t] == kImageTokenIndex ? image_tokens : 1;
  return std::min(len, model_max_length);
}

Batch collate_packed(std::vector<std::vector<PreparedSample>> rows, const CollateOptions& opt) {
  VR_CHECK(!rows.empty(), "collate_packed: no row");
  const int64_t B = static_cast<int64_t>(rows.size());
  // Row length = sum of its samples' lengths after the per-sample truncation.
  auto kept = [&](const PreparedSample& s) {
    VR_CHECK(s.tokens.input_ids.size() == s.tokens.labels.size(), "sample '{}': {} input ids but {} labels", s.id,
             s.tokens.input_ids.size(), s.tokens.labels.size());
    return std::min<int64_t>(static_cast<int64_t>(s.tokens.input_ids.size()), opt.model_max_length);
  };
  int64_t T = 0;
  for (const auto& row : rows) {
    VR_CHECK(!row.empty(), "collate_packed: an empty row");
    int64_t len = 0;
    for (const auto& s : row) len += kept(s);
    T = std::max(T, len);
  }
  Batch batch;
  batch.input_ids = at::full({B, T}, opt.pad_id, at::kLong);
  batch.labels = at::full({B, T}, kIgnoreIndex, at::kLong);
  batch.attention_mask = at::zeros({B, T}, at::kLong);
  batch.segment_ids = at::full({B, T}, -1, at::kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  int64_t* mask = batch.attention_mask.data_ptr<int64_t>();
  int64_t* seg = batch.segment_ids.data_ptr<int64_t>();
  std::vector<at::Tensor> images;
  for (int64_t b = 0; b < B; ++b) {
    int64_t t0 = 0;
    for (size_t k = 0; k < rows[b].size(); ++k) {
      const auto& s = rows[b][k];
      const int64_t len = kept(s);
      int64_t placeholders = 0;
      for (int64_t t = 0; t < len; ++t) {
        const int64_t id = s.tokens.input_ids[t];
        const int64_t at = b * T + t0 + t;
        ids[at] = id;
        labels[at] = t == 0 ? kIgnoreIndex : s.tokens.labels[t];
        // Every token of a sample is real. (collate() masks a real id equal to pad when pad != eos, LLaVA's
        // unk; byte-fallback tokenisers never emit it, and a segment must be contiguous in the merged row.)
        mask[at] = 1;
        seg[at] = static_cast<int64_t>(k);
        placeholders += id == kImageTokenIndex;
      }
      VR_CHECK(placeholders <= static_cast<int64_t>(s.pixels.size()),
               "sample '{}': {} image placeholders but {} images", s.id, placeholders, s.pixels.size());
      for (int64_t i = 0; i < placeholders; ++i) images.push_back(s.pixels[i]);
      batch.ids.push_back(s.id);
      batch.sample_indices.push_back(s.index);
      t0 += len;
    }
  }
  batch.num_text_tokens = batch.attention_mask.sum().item<int64_t>();
  if (!images.empty()) batch.pixel_values = at::stack(images);
  return batch;
}

}  // namespace vr::data
