#include "vr/data/sampler.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "vr/core/error.h"

namespace vr::data {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// LLaVA split_to_even_chunks: greedy, each index to the chunk with the smallest total length so far.
std::vector<std::vector<int64_t>> split_to_even_chunks(const std::vector<int64_t>& indices,
                                                       const std::vector<int64_t>& lengths, int64_t num_chunks) {
  std::vector<std::vector<int64_t>> chunks(num_chunks);
  const int64_t n = static_cast<int64_t>(indices.size());
  if (n % num_chunks != 0) {  // indices[i::num_chunks]
    for (int64_t k = 0; k < n; ++k) chunks[k % num_chunks].push_back(indices[k]);
    return chunks;
  }
  const int64_t per_chunk = n / num_chunks;
  std::vector<double> totals(num_chunks, 0.0);
  for (int64_t index : indices) {
    int64_t shortest = std::min_element(totals.begin(), totals.end()) - totals.begin();  // first minimum
    chunks[shortest].push_back(index);
    totals[shortest] += static_cast<double>(lengths[index]);
    if (static_cast<int64_t>(chunks[shortest].size()) == per_chunk) totals[shortest] = std::numeric_limits<double>::infinity();
  }
  return chunks;
}

}  // namespace

std::vector<int64_t> random_permutation(int64_t n, uint64_t& rng_state) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int64_t k = n - 1; k > 0; --k) std::swap(p[k], p[splitmix64(rng_state) % static_cast<uint64_t>(k + 1)]);
  return p;
}

std::vector<int64_t> length_grouped_indices(const std::vector<int64_t>& lengths, int64_t batch_size, int64_t world_size,
                                            uint64_t& rng_state) {
  const int64_t n = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> perm = random_permutation(n, rng_state);
  const int64_t megabatch = batch_size * world_size;
  std::vector<int64_t> out;
  out.reserve(n);
  for (int64_t begin = 0; begin < n; begin += megabatch) {
    std::vector<int64_t> mb(perm.begin() + begin, perm.begin() + std::min(n, begin + megabatch));
    // sorted(..., key=lengths, reverse=True) is stable: equal lengths keep their order.
    std::stable_sort(mb.begin(), mb.end(), [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    for (const auto& chunk : split_to_even_chunks(mb, lengths, world_size)) out.insert(out.end(), chunk.begin(), chunk.end());
  }
  return out;
}

std::vector<int64_t> modality_length_grouped_indices(const std::vector<int64_t>& lengths, int64_t batch_size,
                                                     int64_t world_size, uint64_t& rng_state) {
  for (int64_t l : lengths) VR_CHECK(l != 0, "group_by_modality_length: a sample has length 0");
  bool all_pos = std::all_of(lengths.begin(), lengths.end(), [](int64_t l) { return l > 0; });
  bool all_neg = std::all_of(lengths.begin(), lengths.end(), [](int64_t l) { return l < 0; });
  if (all_pos || all_neg) {
    std::vector<int64_t> abs_lengths(lengths.size());
    for (size_t k = 0; k < lengths.size(); ++k) abs_lengths[k] = std::abs(lengths[k]);
    return length_grouped_indices(abs_lengths, batch_size, world_size, rng_state);
  }
  std::vector<int64_t> mm_idx, mm_len, lang_idx, lang_len;
  for (int64_t k = 0; k < static_cast<int64_t>(lengths.size()); ++k) {
    if (lengths[k] > 0) mm_idx.push_back(k), mm_len.push_back(lengths[k]);
    else lang_idx.push_back(k), lang_len.push_back(-lengths[k]);
  }
  auto grouped = [&](const std::vector<int64_t>& idx, const std::vector<int64_t>& len) {
    std::vector<int64_t> out;
    for (int64_t k : length_grouped_indices(len, batch_size, world_size, rng_state)) out.push_back(idx[k]);
    return out;
  };
  std::vector<int64_t> mm_shuffle = grouped(mm_idx, mm_len), lang_shuffle = grouped(lang_idx, lang_len);
  const int64_t megabatch = batch_size * world_size;
  auto cut = [&](const std::vector<int64_t>& v) {
    std::vector<std::vector<int64_t>> mbs;
    for (size_t b = 0; b < v.size(); b += megabatch)
      mbs.emplace_back(v.begin() + b, v.begin() + std::min(v.size(), b + megabatch));
    return mbs;
  };
  auto mm_mbs = cut(mm_shuffle), lang_mbs = cut(lang_shuffle);
  // The two last (possibly short) megabatches are merged into one, sorted, placed at the end.
  std::vector<int64_t> additional = mm_mbs.back();
  additional.insert(additional.end(), lang_mbs.back().begin(), lang_mbs.back().end());
  std::vector<std::vector<int64_t>> mbs(mm_mbs.begin(), mm_mbs.end() - 1);
  mbs.insert(mbs.end(), lang_mbs.begin(), lang_mbs.end() - 1);
  std::vector<int64_t> order = random_permutation(static_cast<int64_t>(mbs.size()), rng_state);
  std::vector<int64_t> out;
  for (int64_t k : order) out.insert(out.end(), mbs[k].begin(), mbs[k].end());
  std::sort(additional.begin(), additional.end());
  out.insert(out.end(), additional.begin(), additional.end());
  return out;
}

BatchSampler::BatchSampler(int64_t dataset_size, SamplerOptions opt, std::vector<int64_t> modality_lengths)
    : size_(dataset_size), opt_(opt), lengths_(std::move(modality_lengths)) {
  VR_CHECK(size_ > 0, "the dataset is empty");
  VR_CHECK(opt_.batch_size > 0, "batch size must be positive, got {}", opt_.batch_size);
  VR_CHECK(opt_.world_size > 0 && opt_.rank >= 0 && opt_.rank < opt_.world_size, "rank {} out of range for world size {}",
           opt_.rank, opt_.world_size);
  VR_CHECK(!opt_.group_by_modality_length || static_cast<int64_t>(lengths_.size()) == size_,
           "group_by_modality_length needs one length per record ({} given for {} records)", lengths_.size(), size_);
  const int64_t global = opt_.batch_size * opt_.world_size;
  steps_ = opt_.drop_last ? size_ / global : (size_ + global - 1) / global;
  VR_CHECK(steps_ > 0, "drop_last: the dataset ({} records) is smaller than one global batch ({} = {} x {} ranks)", size_,
           global, opt_.batch_size, opt_.world_size);
}

std::vector<int64_t> BatchSampler::epoch_order(uint64_t seed, uint64_t epoch) const {
  uint64_t rng = seed ^ (0xD1B54A32D192ED03ull * (epoch + 1));
  std::vector<int64_t> order;
  if (opt_.group_by_modality_length)
    order = modality_length_grouped_indices(lengths_, opt_.batch_size, opt_.world_size, rng);
  else if (opt_.shuffle)
    order = random_permutation(size_, rng);
  else {
    order.resize(size_);
    std::iota(order.begin(), order.end(), 0);
  }
  const int64_t needed = steps_ * opt_.batch_size * opt_.world_size;
  for (int64_t k = size_; k < needed; ++k) order.push_back(order[k % size_]);  // wrap: equal steps on every rank
  order.resize(needed);
  return order;
}

int64_t BatchSampler::position(int64_t step, int64_t slot) const {
  return (step * opt_.world_size + opt_.rank) * opt_.batch_size + slot;
}

}  // namespace vr::data
