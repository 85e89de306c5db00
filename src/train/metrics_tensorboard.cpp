#include "vr/train/metrics_tensorboard.h"

#include <nlohmann/json.hpp>

namespace vr::train {

namespace {

struct TagOf {
  const char* key;  // in the metrics.jsonl line
  const char* tag;
  double scale;
};

constexpr double kBytesToMiB = 1.0 / (1024.0 * 1024.0);

// Grouped so TensorBoard's sections read: what the optimizer sees, how fast, what data, how much memory.
constexpr TagOf kTags[] = {
    {"loss", "train/loss", 1},
    {"grad_norm", "train/grad_norm", 1},
    {"lr", "train/lr", 1},
    {"lr_projector", "train/lr_projector", 1},
    {"tokens_per_s", "perf/tokens_per_s", 1},
    {"images_per_s", "perf/images_per_s", 1},
    {"step_time_s", "perf/step_time_s", 1},
    {"mfu", "perf/mfu", 1},
    {"comm_wait_s", "perf/comm_wait_s", 1},
    {"padding_share", "data/padding_share", 1},
    {"host_peak_rss_bytes", "memory/host_peak_rss_mib", kBytesToMiB},
    {"gpu_peak_allocated_bytes", "memory/gpu_peak_allocated_mib", kBytesToMiB},
    {"gpu_peak_reserved_bytes", "memory/gpu_peak_reserved_mib", kBytesToMiB},
};

}  // namespace

vr::ScalarList tensorboard_scalars(const nlohmann::json& line) {
  vr::ScalarList out;
  const bool data_parallel = line.value("allreduce_bytes", int64_t{0}) > 0;
  for (const TagOf& t : kTags) {
    auto it = line.find(t.key);
    if (it == line.end() || !it->is_number()) continue;
    if (std::string(t.key) == "comm_wait_s" && !data_parallel) continue;  // always 0 on one process
    out.emplace_back(t.tag, it->get<double>() * t.scale);
  }
  return out;
}

namespace {

// The earlier sessions' files are trimmed before this session's file exists (it would be trimmed too, harmlessly).
std::string tensorboard_dir_trimmed(const std::string& output_dir, int64_t resume_step) {
  if (resume_step >= 0) vr::drop_tensorboard_events_after(output_dir, resume_step);
  return output_dir;
}

}  // namespace

TensorBoardMetrics::TensorBoardMetrics(const std::string& output_dir, int64_t resume_step)
    : writer_(tensorboard_dir_trimmed(output_dir, resume_step)) {
  if (resume_step >= 0) writer_.add_session_start(resume_step + 1, vr::tensorboard_wall_time());
}

void TensorBoardMetrics::write(const nlohmann::json& line) {
  writer_.add_scalars(line.at("step").get<int64_t>(), tensorboard_scalars(line), vr::tensorboard_wall_time());
}

}  // namespace vr::train
