// The training data loader: worker threads read, tokenise, mask and preprocess whole batches ahead of the
// trainer into a bounded buffer; the batches come out in a fixed order that depends only on the seed, the
// epoch and the options (never on thread timing), so a run restored from LoaderState continues with exactly
// the batches an uninterrupted run would have produced.
//
//   auto ds = vr::data::open_dataset({.path = "synthetic-shapes"});
//   vr::data::DataLoader loader(ds, tok, vr::image::ImageProcessor::clip(), vr::image::AspectMode::Pad,
//                               "vicuna_v1", {.batch_size = 16});
//   while (auto batch = loader.next()) { ... }   // one epoch; the next call starts the next epoch
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "vr/data/batch.h"
#include "vr/data/dataset.h"
#include "vr/data/packing.h"
#include "vr/image/image_processor.h"
#include "vr/text/tokenizer.h"

namespace vr::data {

struct LoaderOptions {
  int64_t batch_size = 1;   // per rank
  int64_t num_workers = 2;  // 0: batches are built in next() on the calling thread
  int64_t prefetch = 4;     // batches built ahead of the consumer (at least 1)
  uint64_t seed = 0;
  bool shuffle = true;
  bool group_by_modality_length = false;  // LLaVA's length grouping by modality (see sampler.h)
  int64_t rank = 0, world_size = 1;
  int64_t model_max_length = 2048;
  bool drop_last = false;
  // data.packing (packing.h): batch_size then counts packed rows of pack_length merged tokens per rank, not
  // samples; group_by_modality_length is not used (the packer orders the samples).
  PackingOptions packing;
};

// Where the loader is: `position` batches of epoch `epoch` have been handed out.
struct LoaderState {
  uint64_t epoch = 0;
  int64_t position = 0;
  uint64_t seed = 0;
  std::string to_json() const;  // {"epoch": 0, "position": 12, "seed": 0}
  static LoaderState from_json(const std::string& text);
};

struct LoaderStats {
  int64_t samples = 0;             // samples prepared (including prefetched ones)
  int64_t mismatched_samples = 0;  // of those, fully masked by the "tokenization mismatch" fallback
  int64_t bad_records = 0;         // distinct records skipped (skip_bad_records)
  int64_t unpacked_samples = 0;    // packing: samples of rows past the epoch's step count (see packing_plan)
};

// Turns a record into a collatable sample; throws for a bad record (e.g. an unreadable image).
using SamplePreparer = std::function<PreparedSample(const Sample& sample, int64_t index)>;
// Packing: the merged length of a record (packing.h merged_length), without decoding its images.
using SampleLength = std::function<int64_t(const Sample& sample, int64_t index)>;

// The preparer of the standard pipeline: template + label masking with `tok`, images decoded (files) and
// run through `proc` with `aspect`. Unknown template names throw here.
SamplePreparer make_sample_preparer(const text::Tokenizer& tok, const image::ImageProcessor& proc, image::AspectMode aspect,
                                    const std::string& template_name, int64_t model_max_length);
// Pad id and the pad == eos rule for the template + tokenizer (SPEC §3.5 Collator).
// The lengths packing needs for the standard pipeline: tokenisation only, images counted as F slots each.
SampleLength make_sample_length(const text::Tokenizer& tok, const std::string& template_name, int64_t model_max_length,
                                int64_t image_tokens);
CollateOptions collate_options_for(const text::Tokenizer& tok, const std::string& template_name, int64_t model_max_length);

class DataLoader {
 public:
  DataLoader(std::shared_ptr<Dataset> dataset, text::Tokenizer tok, image::ImageProcessor proc, image::AspectMode aspect,
             std::string template_name, LoaderOptions opt);
  // Same machinery over any preparer (tests, tools). Packing without `length`: lengths from prepare() (decodes the
  // images once per record at construction; fine for small data).
  DataLoader(std::shared_ptr<Dataset> dataset, SamplePreparer prepare, CollateOptions collate, LoaderOptions opt,
             SampleLength length = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch of this rank, or nullopt at the end of the epoch (the call after that starts the next
  // epoch). A bad record throws vr::Error naming file, record and id, unless the dataset skips bad records:
  // then it is replaced by the next good record of the epoch order (deterministic).
  std::optional<Batch> next();
  LoaderState state() const;
  void restore(const LoaderState& s);  // resumed run continues with the next unseen batch
  int64_t batches_per_epoch() const;   // equal on every rank
  LoaderStats stats() const;
  // Packing: the plan statistics of epoch 0, which also fixes batches_per_epoch (ceil(rows / (B * W))). A later
  // epoch's plan may hold a few rows more or fewer (FFD over another shuffle): fewer wrap around as unpacked
  // batches do, more are left out of that epoch and counted in stats().unpacked_samples. All zero unpacked.
  PackingStats packing_plan() const;
  bool packing() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vr::data
