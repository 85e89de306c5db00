#include "vr/model/packed_segments.h"

#include <ATen/ATen.h>

#include "vr/core/error.h"

namespace vr::model {

int64_t PackedSegments::segments() const {
  int64_t n = 0;
  for (const auto& row : lengths) n += static_cast<int64_t>(row.size());
  return n;
}

PackedSegments merged_segments(const at::Tensor& segment_ids, const at::Tensor& is_image, int64_t image_width,
                               const at::Tensor& valid, const at::Tensor& merged_lengths) {
  VR_CHECK(segment_ids.dim() == 2 && segment_ids.sizes() == is_image.sizes() && segment_ids.sizes() == valid.sizes(),
           "packed segments: segment_ids {} must match the input ids", c10::str(segment_ids.sizes()));
  // One host copy of [B,T]: the segment loop of the attention needs the lengths on the host anyway.
  const auto seg = segment_ids.to(at::kCPU, at::kLong).contiguous();
  const auto img = is_image.to(at::kCPU, at::kBool).contiguous();
  const auto ok = valid.to(at::kCPU, at::kBool).contiguous();
  const auto lens = merged_lengths.to(at::kCPU, at::kLong).contiguous();
  const int64_t B = seg.size(0), T = seg.size(1);
  const int64_t* s = seg.data_ptr<int64_t>();
  const bool* im = img.data_ptr<bool>();
  const bool* v = ok.data_ptr<bool>();
  PackedSegments out;
  out.lengths.resize(B);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t>& row = out.lengths[b];
    int64_t current = -1;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t id = s[b * T + t];
      if (id < 0 || !v[b * T + t]) continue;
      VR_CHECK(id >= current, "packed segments: row {} has segment {} after segment {} (samples must be contiguous)",
               b, id, current);
      if (id != current) {
        row.push_back(0);
        current = id;
      }
      row.back() += im[b * T + t] ? image_width : 1;
    }
    // The merged truncation (model_max_length) cuts the row's tail: the last segments shrink or vanish.
    int64_t left = lens.data_ptr<int64_t>()[b];
    for (auto& len : row) {
      len = std::min(len, left);
      left -= len;
    }
    while (!row.empty() && row.back() == 0) row.pop_back();
  }
  return out;
}

at::Tensor segment_position_ids(const PackedSegments& s, int64_t M, at::Device device) {
  at::Tensor pos = at::zeros({s.rows(), M}, at::kLong);
  int64_t* p = pos.data_ptr<int64_t>();
  for (int64_t b = 0; b < s.rows(); ++b) {
    int64_t t = 0;
    for (int64_t len : s.lengths[b]) {
      VR_CHECK(t + len <= M, "packed segments: row {} holds {} merged tokens, more than the {} of the sequence", b,
               t + len, M);
      for (int64_t i = 0; i < len; ++i) p[b * M + t + i] = i;
      t += len;
    }
  }
  return pos.to(device);
}

}  // namespace vr::model
