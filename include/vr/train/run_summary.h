// What a finished training run records beyond metrics.jsonl, in <output_dir>/run_summary.json: the resolved
// selection, parameter counts, totals and peak memory. `vrtrain train` writes it at the end; `vrtrain compare`
// (vr/report/run_record.h) and the study read it back.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/train/run_figures.h"

namespace vr::train {

struct RunConfig;
struct PreparedRun;
struct TrainResult;

struct RunSummary {
  std::string strategy;  // pretrain | full | the selection strategy ("consecutive-<position>" for consecutive)
  std::string stage, method;
  std::vector<int64_t> layers;  // tuned LLM layers
  int64_t num_layers = 0;
  std::vector<double> selection_scores;
  std::string selection_rationale;
  int64_t trainable_params = -1, total_params = -1;
  int64_t steps = 0;
  double seconds = 0;
  int64_t tokens = 0, images = 0;
  double first_loss = 0, last_loss = 0;
  int64_t samples = -1;  // steps x batch_size x grad_accum x world size
  int64_t peak_rss_bytes = -1;
  int64_t seed = -1;
  // GPU peak maxima (CUDA runs only, absent on the CPU) and the median tokens/s of one rank and MFU.
  RunFigures figures;

  nlohmann::json to_json() const;
  // Missing keys keep the defaults above.
  static RunSummary from_json(const nlohmann::json& j);
};

// The summary of a finished run (peak_rss_bytes: this process's peak resident set so far).
RunSummary make_run_summary(const RunConfig& cfg, const PreparedRun& run, const TrainResult& result,
                            int64_t world_size);

}  // namespace vr::train
