// LLaVA-style JSON (one list of records) or JSONL (one record per line), read lazily:
// opening scans the file once, streaming, and keeps only each record's byte span (16 bytes per record:
// LLaVA-665K's 1 GB JSON indexes into ~11 MB); get(i) reads and parses that one record.
//
// Record: {"id": str|int, "image": "rel/path.jpg" | "images": [..] (optional),
//          "conversations": [{"from": "human"|"gpt", "value": "..."}, ...]}
// Checked in get(): object shape and types, known roles, non-empty conversation, number of "<image>"
// placeholders == number of images. (Image files are decoded later, by the loader or data-check.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/data/dataset.h"

namespace vr::data {

class JsonDataset : public Dataset {
 public:
  // Throws vr::Error naming the file and byte offset when the file is not a JSON list / JSONL stream
  // (e.g. truncated); record contents are only checked on access.
  JsonDataset(const std::string& path, const std::string& image_folder);
  ~JsonDataset() override;
  JsonDataset(const JsonDataset&) = delete;
  JsonDataset& operator=(const JsonDataset&) = delete;

  int64_t size() const override { return static_cast<int64_t>(spans_.size()); }
  Sample get(int64_t index) const override;
  std::string source() const override { return path_; }
  int64_t modality_length(int64_t index) const override;  // all computed in one pass on first use

  bool is_jsonl() const { return jsonl_; }
  std::string record_text(int64_t index) const;  // raw bytes of the record

 private:
  struct Span {
    uint64_t offset;
    uint32_t length;
  };
  std::string path_, image_folder_;
  int fd_ = -1;
  bool jsonl_ = false;
  std::vector<Span> spans_;
  mutable std::once_flag lengths_once_;
  mutable std::vector<int32_t> modality_lengths_;

  void index_file();
};

}  // namespace vr::data
