// `vrtrain eval --task loss`: loss and perplexity of a model on LLaVA-format conversation data, with the
// training pipeline's template and label masking (so the number is the training loss on held-out data).
// Per dataset and overall, token-weighted: loss = sum of -log p over supervised tokens / their count
// (over the whole dataset, not a mean of batch means), perplexity = exp(loss).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/data/dataset.h"

namespace vr::eval {

class EvalModel;

struct LossResult {
  std::string source;   // data file
  int64_t records = 0;  // conversations scored
  int64_t tokens = 0;   // supervised tokens
  int64_t masked_records = 0;  // fully masked by the template's "tokenization mismatch" fallback (no tokens)
  double nll_sum = 0;   // sum of -log p over the supervised tokens
  double loss() const;        // nll_sum / tokens (NaN without tokens)
  double perplexity() const;  // exp(loss())
};

struct LossReport {
  std::vector<LossResult> by_dataset;
  LossResult overall;
  nlohmann::json metrics() const;  // {loss, perplexity, tokens, records, by_dataset: {path: {...}}}
  std::string table() const;
};

struct LossEvalOptions {
  std::vector<std::string> data;  // JSON / JSONL files in LLaVA format, or "synthetic-shapes" (below)
  // How each entry of `data` opens (path and template are set per entry, the template from the model's options):
  // image_folder, joined with each record's "image"; for "synthetic-shapes", the built-in dataset
  // (vr/data/synthetic_shapes.h), synthetic_samples images drawn with `seed` at synthetic_image_size px: captions
  // under the template "plain", questions under the others. Held-out when the seed differs from training's (the
  // study's text-retention loss uses it).
  vr::data::DatasetOptions dataset;
  int64_t batch_size = 4;
  // Called after every batch with (records done, records in all files).
  std::function<void(int64_t, int64_t)> progress;
};

// A bad record (missing image, bad JSON, unknown role) stops with the loader's error naming file, record and id.
LossReport evaluate_loss(EvalModel& model, const LossEvalOptions& opt);

}  // namespace vr::eval
