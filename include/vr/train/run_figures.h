// Run-level figures of the steps a process trained, for run_summary.json, `vrtrain compare` and the progress line:
// the maxima of the per-step GPU peaks and the medians of the per-step rates. A resumed run counts the steps
// since its resume. The GPU figures exist only when the steps reported them (CUDA runs); on the CPU they are
// absent, never 0.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace vr::train {

struct StepMetrics;

struct RunFigures {
  std::optional<int64_t> gpu_peak_allocated_bytes_max, gpu_peak_reserved_bytes_max;
  std::optional<double> mfu_median;
  std::optional<double> tokens_per_s_per_rank_median;

  // Adds the keys that have a value to `j` (gpu_peak_allocated_bytes_max, gpu_peak_reserved_bytes_max,
  // mfu_median, tokens_per_s_per_rank_median).
  void add_to_json(nlohmann::json& j) const;
  // Reads the same keys; missing or null ones stay empty.
  static RunFigures from_json(const nlohmann::json& j);
};

// Collects StepMetrics as the trainer produces them. Medians skip the first step when there are at least 3
// (allocator and cache warm-up, as `vrtrain compare` does for step times).
class RunFigureLog {
 public:
  void add(const StepMetrics& m);
  // The same from one metrics.jsonl line (a run without run_summary.json yet: `vrtrain compare`).
  void add_line(const nlohmann::json& metrics_line);
  RunFigures figures() const;

 private:
  std::optional<int64_t> allocated_max_, reserved_max_;
  std::vector<double> mfu_, tokens_per_s_per_rank_;
};

}  // namespace vr::train
