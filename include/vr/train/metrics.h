// What a run tells people: one JSON line per optimizer step in <output_dir>/metrics.jsonl, a progress line, and
// an end-of-run summary.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "vr/train/run_figures.h"

namespace vr::train {

struct StepMetrics {
  int64_t step = 0;          // 1-based: optimizer steps completed
  int64_t total_steps = 0;
  double loss = 0;           // mean over the step's micro-batches
  double lr = 0;             // current lr of the LLM group (or the only group)
  double lr_projector = 0;
  double grad_norm = 0;      // before clipping
  double step_time_s = 0;
  int64_t tokens = 0;        // supervised-or-not, non-padding tokens in the step (text + image positions)
  int64_t images = 0;
  double elapsed_s = 0;      // wall time since the run (or the resumed run) started
  int64_t epoch = 0;
  int64_t allreduce_bytes = 0;  // gradient bytes this rank all-reduced in the step (0: single process)
  double comm_wait_s = 0;       // time the step waited for communication after backward
  int64_t optimizer_state_bytes = 0;  // this rank's AdamW state (dist.shard_optimizer: its 1/W partition)
  int64_t world_size = 1;             // ranks the step's tokens were spread over
  int64_t host_peak_rss_bytes = 0;    // this process's peak resident set size since it started (VmHWM)
  // CUDA runs only (absent from the JSON on the CPU, never 0): the caching allocator's peaks on this rank's
  // device during the step: allocated = live tensors (what the memory plan predicts), reserved = its pool.
  std::optional<int64_t> gpu_peak_allocated_bytes, gpu_peak_reserved_bytes;
  // CUDA runs only: model FLOPs utilisation of this rank's GPU = the FLOPs its step must execute
  // (TrainTask::step_model_flops; recompute not counted) / step time / train.peak_tflops (docs/benchmarks.md).
  std::optional<double> mfu;

  double tokens_per_s() const { return step_time_s > 0 ? static_cast<double>(tokens) / step_time_s : 0; }
  // Throughput of one rank (one GPU): the step's tokens (all ranks) / W / step time.
  double tokens_per_s_per_rank() const { return tokens_per_s() / static_cast<double>(world_size > 0 ? world_size : 1); }
  double images_per_s() const { return step_time_s > 0 ? static_cast<double>(images) / step_time_s : 0; }
  nlohmann::json to_json() const;
};

// Appends JSON lines, flushed after each so a killed run keeps every completed step.
class MetricsWriter {
 public:
  // On resume from step k, lines with step > k (written after that checkpoint) are dropped first.
  MetricsWriter(const std::string& path, int64_t resume_step);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const nlohmann::json& line);

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

// "step 12/100 | loss 2.3451 | lr 1.96e-05 | grad 0.84 | 5230 tok/s | 41.2 img/s | ETA 1m12s"
// `avg_step_s` is the mean step time used for the ETA. On CUDA the line adds the step's GPU peak with the run's
// maximum so far and the step's MFU with the run's median so far (`run`):
//   "... | GPU 30.1 GiB peak (run max 30.4 GiB, 34.0 GiB reserved) | MFU 41.2% (median 40.8%) | ETA 1m12s"
// (durations and byte counts print as vr::format_duration / vr::format_bytes do, vr/core/progress.h).
std::string format_progress(const StepMetrics& m, double avg_step_s, const RunFigures& run = {});

}  // namespace vr::train
