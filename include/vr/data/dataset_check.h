// Walks a training dataset record by record and finds what the trainer would choke on (vrtrain data-check):
// records that do not parse or break the conversation rules (Dataset::get), images that are missing or do not
// decode, and, given a tokenizer, samples the reference 'tokenization mismatch' fallback would mask entirely.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "vr/data/dataset.h"
#include "vr/data/template.h"
#include "vr/data/text_encoder.h"

namespace vr::data {

struct DatasetCheckOptions {
  bool decode = true;              // decode every image (false: only check that the file exists)
  int64_t model_max_length = 2048;  // truncation of the tokenised conversations (as data.model_max_length)
};

struct DatasetCheck {
  int64_t records = 0, bad = 0;
  int64_t mismatched = 0;  // tokenization mismatches (warnings, not bad); counted only with an encoder
  int64_t images = 0, with_images = 0, text_only = 0;  // over the good records
};

// Checks every record of `ds`; `encoder` null skips the tokenization check. Each problem goes to `report` as one
// line naming file, record index and id ('<file>: record <i> (id '<id>'): <problem>'), in record order.
DatasetCheck check_dataset(const Dataset& ds, const ConversationTemplate& tpl, const TextEncoder* encoder,
                           const DatasetCheckOptions& opt, const std::function<void(const std::string&)>& report);

}  // namespace vr::data
