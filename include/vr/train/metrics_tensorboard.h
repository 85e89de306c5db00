// A run's metrics as TensorBoard curves (log.tensorboard, default on): each metrics.jsonl line becomes one event of
// scalars in an event file beside it, so `tensorboard --logdir runs/` shows every run's curves by run name.
//
//   tag                              metrics.jsonl key           scale
//   train/loss, train/grad_norm      loss, grad_norm             1
//   train/lr, train/lr_projector     lr, lr_projector            1
//   perf/tokens_per_s, perf/images_per_s, perf/step_time_s, perf/mfu (CUDA)     same names, 1
//   perf/comm_wait_s                 comm_wait_s (data parallel only: absent when no bytes were all-reduced)
//   data/padding_share               padding_share               1
//   memory/host_peak_rss_mib         host_peak_rss_bytes         1/2^20
//   memory/gpu_peak_allocated_mib, memory/gpu_peak_reserved_mib (CUDA)   gpu_peak_*_bytes   1/2^20
// A key absent from the line gives no scalar (no GPU curves on the CPU). The trainer logs no eval metrics during
// training (evaluation is `vrtrain eval` after it), so there are no eval/ tags.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "vr/core/tensorboard_writer.h"

namespace vr::train {

// The scalars of one metrics.jsonl line, in the table's order.
vr::ScalarList tensorboard_scalars(const nlohmann::json& line);

class TensorBoardMetrics {
 public:
  // A new event file in `output_dir` (one per session: TensorBoard reads a run's files in name order, i.e. by
  // start time). On resume from checkpoint step k (resume_step >= 0) the earlier files lose their events after
  // step k (what the killed session wrote after its checkpoint), as metrics.jsonl loses those lines, and the new
  // file starts with a SessionLog START at step k + 1 (TensorBoard's own restart marker, for copies of the
  // files made before the resume).
  TensorBoardMetrics(const std::string& output_dir, int64_t resume_step);
  void write(const nlohmann::json& line);
  const std::string& path() const { return writer_.path(); }

 private:
  vr::TensorBoardWriter writer_;
};

}  // namespace vr::train
