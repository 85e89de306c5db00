// Which dataset records each rank sees at each step of an epoch.
//
// Every rank computes the same global order for an epoch (from seed + epoch), cuts it into global batches of
// B * W records (B = per-rank batch, W = world size) and takes the r-th slice of B:
//   step s, rank r, slot j  ->  order[(s * W + r) * B + j]
// Without drop_last the order wraps around to fill the last global batch (as accelerate's even_batches
// does), so every rank runs exactly ceil(N / (B * W)) full steps; with drop_last it runs floor(N / (B * W)).
// group_by_modality_length follows LLaVA's get_modality_length_grouped_indices: image and text-only samples
// never share a global batch, records of a global batch are sorted by length and split evenly across ranks.
#pragma once
#include <cstdint>
#include <vector>

namespace vr::data {

struct SamplerOptions {
  int64_t batch_size = 1;
  int64_t rank = 0, world_size = 1;
  bool shuffle = true;
  bool group_by_modality_length = false;
  bool drop_last = false;
};

class BatchSampler {
 public:
  // `modality_lengths` (one per record, see Dataset::modality_length) only for group_by_modality_length.
  BatchSampler(int64_t dataset_size, SamplerOptions opt, std::vector<int64_t> modality_lengths = {});
  int64_t steps_per_epoch() const { return steps_; }
  // Global order of the epoch, already extended / cut to steps * B * W entries.
  std::vector<int64_t> epoch_order(uint64_t seed, uint64_t epoch) const;
  // Position in epoch_order of slot j of this rank's batch at `step`.
  int64_t position(int64_t step, int64_t slot) const;

 private:
  int64_t size_;
  SamplerOptions opt_;
  std::vector<int64_t> lengths_;
  int64_t steps_ = 0;
};

// The permutations used above, exposed for tests. `rng_state` is advanced (splitmix64).
std::vector<int64_t> random_permutation(int64_t n, uint64_t& rng_state);
// LLaVA get_length_grouped_indices / get_modality_length_grouped_indices with our generator.
std::vector<int64_t> length_grouped_indices(const std::vector<int64_t>& lengths, int64_t batch_size, int64_t world_size,
                                            uint64_t& rng_state);
std::vector<int64_t> modality_length_grouped_indices(const std::vector<int64_t>& lengths, int64_t batch_size,
                                                     int64_t world_size, uint64_t& rng_state);

}  // namespace vr::data
