// Datasets of conversations with images: the abstract base, the parsed sample, and the factory that opens
// a `data.path` (a LLaVA-style JSON / JSONL file, or the built-in "synthetic-shapes").
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "vr/data/conversation.h"
#include "vr/image/image.h"

namespace vr::data {

// One record, parsed. Images are either files (JSON datasets: paths already joined with image_folder) or
// decoded in memory (synthetic data); never both.
struct Sample {
  std::string id;
  std::vector<Turn> conversations;
  std::vector<std::string> image_paths;
  std::vector<image::Image> images;

  int64_t num_images() const { return static_cast<int64_t>(image_paths.empty() ? images.size() : image_paths.size()); }
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Parses record `index`. A bad record throws vr::Error "<source>: record <index> (id '<id>'): <problem>".
  // Thread-safe.
  virtual Sample get(int64_t index) const = 0;
  // The file name (or "synthetic-shapes"), for messages.
  virtual std::string source() const = 0;
  // LLaVA's modality_lengths: total word count of the turns, positive for samples with an image and
  // negative for text-only ones (used by group_by_modality_length). Default: parse the record.
  virtual int64_t modality_length(int64_t index) const;

  // With skip_bad_records, the loader and data-check count and skip a bad record instead of failing.
  bool skip_bad_records() const { return skip_bad_records_; }
  void set_skip_bad_records(bool skip) { skip_bad_records_ = skip; }
  // Logs a bad record once (warning) and counts it. Thread-safe.
  void report_bad_record(int64_t index, const std::string& message) const;
  int64_t bad_record_count() const;

 private:
  bool skip_bad_records_ = false;
  mutable std::mutex bad_mutex_;
  mutable std::set<int64_t> bad_records_;
};

// "<source>: record <index> (id '<id>'): <problem>" — every record error reads like this.
std::string record_error(const std::string& source, int64_t index, const std::string& id, const std::string& problem);

// Word count as Python's len(text.split()).
int64_t count_words(const std::string& text);
int64_t modality_length_of(const Sample& s);

// What `data.*` configures. path "synthetic-shapes" selects the built-in generated dataset.
struct DatasetOptions {
  std::string path;
  std::string image_folder;
  bool skip_bad_records = false;
  std::string template_name = "vicuna_v1";  // synthetic-shapes: "plain" gives captions, others Q&A
  int64_t synthetic_samples = 1024;
  int64_t synthetic_image_size = 64;
  uint64_t seed = 0;
};
std::shared_ptr<Dataset> open_dataset(const DatasetOptions& opt);

}  // namespace vr::data
