// `vrtrain compare`: runs side by side, as a paper table and plots.
//   compare.md    one row per run: strategy, trained layers, trainable parameters (share), stage/method, steps,
//                 samples, median step time, tokens/s, peak RSS, final and best loss, every evaluation found (its
//                 headline metric: accuracy, else loss) and each relative to the baseline run ("% of full");
//   compare.json  the same numbers, unrounded, plus every evaluation's full metrics;
//   loss_curves.{svg,png}, layer_scores.{svg,png}, layer_selection.{svg,png}.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/report/run_record.h"

namespace vr::report {

struct CompareOptions {
  std::vector<std::string> runs;  // run directories
  std::string output = "compare";
  // Run name or directory; empty: the first run whose strategy is "full", else the first run.
  std::string baseline;
};

struct CompareReport {
  std::vector<RunRecord> runs;
  size_t baseline = 0;
  nlohmann::json json;               // compare.json
  std::string markdown;              // compare.md
  std::vector<std::string> files;    // everything written
};

// The report of already-read runs (no file written).
CompareReport build_comparison(std::vector<RunRecord> runs, const std::string& baseline);
// Reads the runs, builds the report and writes every file into opt.output.
CompareReport compare_runs(const CompareOptions& opt);

}  // namespace vr::report
