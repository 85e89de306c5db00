// One training run as `vrtrain compare` sees it, read from its output directory:
//   run_summary.json  written by `vrtrain train` at the end: strategy, stage, method, selected layers, selection
//                     scores, trainable / total parameters, steps, samples, seconds, tokens, peak RSS, seed;
//   metrics.jsonl     one line per optimizer step: the loss curve, step times, tokens;
//   config.yaml       fallback for strategy / stage / method when run_summary.json is absent (unfinished run);
//   selection_*.json  per-layer scores saved by `vrtrain score` into the same directory (when the summary has none);
//   eval/*.summary.json and *.summary.json   evaluation summaries (vr/eval/eval_summary.h).
// Missing pieces stay empty / NaN: a crashed or still-running run still gets a row.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/eval/eval_summary.h"
#include "vr/train/run_figures.h"

namespace vr::report {

using vr::eval::EvalSummary;  // a run record carries the eval summaries found in its run folder

// What a figure the run did not record reads as (a crashed run, a metric not logged): NaN, shown as "-".
inline constexpr double kNotRecorded = std::numeric_limits<double>::quiet_NaN();

struct RunRecord {
  std::string dir, name;  // name: the directory's last component
  std::string strategy, stage, method;
  std::vector<int64_t> layers;   // trained LLM layers
  int64_t num_layers = 0;
  std::vector<double> scores;    // per-layer selection scores (importance strategies), else empty
  int64_t trainable_params = -1, total_params = -1;
  int64_t steps = 0, samples = -1, seed = -1;
  double step_time_s = 0;        // median over steps after the first (warm-up excluded when there are >= 3)
  double tokens_per_s = 0;       // tokens of all steps / their summed step time
  int64_t peak_rss_bytes = -1;
  vr::train::RunFigures figures;  // GPU peak maxima, MFU and tokens/s-per-rank medians (run_summary.json, else
                                  // computed from metrics.jsonl); GPU ones absent for CPU runs
  double first_loss = 0, final_loss = 0, best_loss = 0;
  std::vector<double> loss_steps, losses;  // the curve
  std::vector<EvalSummary> evals;          // sorted by eval_key
  bool finished = false;                   // run_summary.json present

  double trainable_share() const;          // trainable / total (NaN when unknown)
};

// Reads a run directory; vr::Error naming it when it holds neither metrics.jsonl nor run_summary.json.
RunRecord read_run(const std::string& dir);

// Column key of an evaluation: "<task>" or "<task>:<data file stem>" (the first data file).
std::string eval_key(const EvalSummary& s);
// The number a table shows for an evaluation: metrics.accuracy when present, else metrics.loss; NaN otherwise.
// `higher_is_better` tells which.
double headline_metric(const EvalSummary& s, bool* higher_is_better = nullptr);

}  // namespace vr::report
