#include "vr/data/dataset.h"

#include <cstdio>

#include "vr/core/error.h"
#include "vr/data/json_dataset.h"
#include "vr/data/synthetic_shapes.h"

namespace vr::data {

int64_t Dataset::modality_length(int64_t index) const { return modality_length_of(get(index)); }

void Dataset::report_bad_record(int64_t index, const std::string& message) const {
  std::lock_guard<std::mutex> lock(bad_mutex_);
  if (bad_records_.insert(index).second) std::fprintf(stderr, "warning: skipping bad record: %s\n", message.c_str());
}

int64_t Dataset::bad_record_count() const {
  std::lock_guard<std::mutex> lock(bad_mutex_);
  return static_cast<int64_t>(bad_records_.size());
}

std::string record_error(const std::string& source, int64_t index, const std::string& id, const std::string& problem) {
  return fmt::format("{}: record {} (id '{}'): {}", source, index, id, problem);
}

int64_t count_words(const std::string& text) {
  int64_t words = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    bool space = c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

int64_t modality_length_of(const Sample& s) {
  int64_t words = 0;
  for (const auto& t : s.conversations) words += count_words(t.value);
  words = std::max<int64_t>(words, 1);  // the reference asserts lengths are non-zero
  return s.num_images() > 0 ? words : -words;
}

std::shared_ptr<Dataset> open_dataset(const DatasetOptions& opt) {
  VR_CHECK(!opt.path.empty(), "data.path is empty (a JSON / JSONL file, or \"synthetic-shapes\")");
  std::shared_ptr<Dataset> ds;
  if (opt.path == kSyntheticShapesName) {
    SyntheticShapesOptions so;
    so.num_samples = opt.synthetic_samples;
    so.image_size = static_cast<int>(opt.synthetic_image_size);
    so.seed = opt.seed;
    so.captions = opt.template_name == "plain";
    ds = std::make_shared<SyntheticShapesDataset>(so);
  } else {
    ds = std::make_shared<JsonDataset>(opt.path, opt.image_folder);
  }
  ds->set_skip_bad_records(opt.skip_bad_records);
  return ds;
}

}  // namespace vr::data
