// Multimodal sequence packing (data.packing, docs/packing.md): several samples share one row of pack_length
// merged tokens instead of each being padded to the longest row of its micro-batch.
//
// The plan of an epoch depends on the seed, the epoch and the samples' lengths only, never on the world size:
//   1. the records are shuffled (the sampler's random_permutation with the epoch's generator);
//   2. the order is cut into buffers of data.pack_buffer records; each buffer is packed by first-fit-decreasing
//      (longest first, each into the first row it fits, a new row when none has room); samples are never split;
//      a sample longer than pack_length gets a row of its own and is truncated exactly as unpacked;
//   3. the rows of a buffer are shuffled (the same generator), so a step does not get only a buffer's longest
//      samples, and buffers are concatenated: the global row order.
// Rows are then dealt to ranks as the unpacked sampler deals records (sampler.h): step s, rank r, slot j ->
// rows[(s * W + r) * B + j], so W ranks with B rows each see what one process with W micro-batches of B rows sees.
//
// Lengths are merged lengths: text tokens + F slots per image (F = 576 for CLIP ViT-L/14-336, 729 for SigLIP-384),
// after today's truncation (collator at model_max_length ids, merged sequence at model_max_length).
#pragma once
#include <cstdint>
#include <vector>

#include "vr/data/batch.h"

namespace vr::data {

struct PackingOptions {
  bool enabled = false;
  int64_t pack_length = 0;    // merged tokens per row (0: model_max_length)
  int64_t buffer = 1000;      // records per first-fit-decreasing buffer (data.pack_buffer)
  int64_t image_tokens = 0;   // F: merged slots per image (the model's image_seq_length)
};

// First-fit-decreasing of `lengths` into rows of `capacity`. Returns rows as positions into `lengths`, rows in the
// order they were opened, each row's items in the order they were placed (longest first; ties keep input order).
// An item longer than capacity gets a row of its own.
std::vector<std::vector<int64_t>> first_fit_decreasing(const std::vector<int64_t>& lengths, int64_t capacity);

// What a plan (or a run) packs: rows, samples, real merged tokens and the slots they occupy (rows x capacity).
struct PackingStats {
  int64_t rows = 0;
  int64_t samples = 0;
  int64_t tokens = 0;  // real merged tokens (each sample's length, capped as truncation caps it)
  int64_t slots = 0;   // rows x pack_length (an over-long sample's row counts its own length)
  double samples_per_row() const { return rows ? static_cast<double>(samples) / static_cast<double>(rows) : 0; }
  double padding_share() const { return slots ? 1.0 - static_cast<double>(tokens) / static_cast<double>(slots) : 0; }
};

struct PackPlan {
  std::vector<std::vector<int64_t>> rows;  // dataset indices per row, in row order
  PackingStats stats;
};

// The plan of one epoch. `lengths` [N] merged lengths of every record; `order` the epoch's shuffled record order.
// `rng_state` shuffles the rows of each buffer (advanced).
PackPlan plan_packs(const std::vector<int64_t>& order, const std::vector<int64_t>& lengths, int64_t pack_length,
                    int64_t buffer, uint64_t& rng_state);

// A merged length from a tokenised sample: ids truncated to model_max_length (a placeholder counts one, as the
// collator does), each surviving placeholder widened to F slots, the total capped at model_max_length (the
// model's merged truncation).
int64_t merged_length(const std::vector<int64_t>& input_ids, int64_t image_tokens, int64_t model_max_length);

// Collates packed rows: each inner vector is one row's samples, concatenated in order. Per sample: ids and labels
// truncated to model_max_length as collate() does, its first label set to -100 (no target crosses into it from
// the previous sample; unpacked, a row's first label is never a target either), its surviving images appended in
// order; every token of a sample has attention_mask 1 (see packing.cpp). Rows right-padded to the longest row. Batch::segment_ids [B,T] holds each token's sample number within
// its row (0, 1, ...) and -1 at padding; ids / sample_indices list the samples in row-major order.
Batch collate_packed(std::vector<std::vector<PreparedSample>> rows, const CollateOptions& opt);

}  // namespace vr::data
