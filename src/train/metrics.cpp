#include "vr/train/metrics.h"


#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/core/progress.h"

namespace vr::train {

nlohmann::json StepMetrics::to_json() const {
  nlohmann::json j = {{"step", step},
          {"loss", loss},
          {"lr", lr},
          {"lr_projector", lr_projector},
          {"grad_norm", grad_norm},
          {"tokens_per_s", tokens_per_s()},
          {"images_per_s", images_per_s()},
          {"step_time_s", step_time_s},
          {"tokens", tokens},
          {"images", images},
          {"epoch", epoch},
          {"elapsed_s", elapsed_s},
          {"allreduce_bytes", allreduce_bytes},
          {"comm_wait_s", comm_wait_s},
          {"optimizer_state_bytes", optimizer_state_bytes},
          {"tokens_per_s_per_rank", tokens_per_s_per_rank()},
          {"host_peak_rss_bytes", host_peak_rss_bytes}};
  if (gpu_peak_allocated_bytes) j["gpu_peak_allocated_bytes"] = *gpu_peak_allocated_bytes;
  if (gpu_peak_reserved_bytes) j["gpu_peak_reserved_bytes"] = *gpu_peak_reserved_bytes;
  if (mfu) j["mfu"] = *mfu;
  return j;
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t resume_step) : path_(path) {
  if (resume_step >= 0) {
    // Keep the lines of steps up to the checkpoint we resume from; later ones will be written again.
    std::vector<std::string> keep;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("step", int64_t{0}) <= resume_step) keep.push_back(line);
    }
    in.close();
    std::ofstream out(path, std::ios::trunc);
    for (const auto& l : keep) out << l << '\n';
  }
  file_ = std::fopen(path.c_str(), "a");
  VR_CHECK(file_ != nullptr, "cannot open metrics file '{}' for writing", path);
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const nlohmann::json& line) {
  std::string s = line.dump() + "\n";
  std::fwrite(s.data(), 1, s.size(), file_);
  std::fflush(file_);
}

std::string format_progress(const StepMetrics& m, double avg_step_s, const RunFigures& run) {
  double eta = avg_step_s * static_cast<double>(m.total_steps - m.step);
  auto bytes = [](const std::optional<int64_t>& b) { return vr::format_bytes(static_cast<uint64_t>(b.value_or(0))); };
  std::string gpu;
  if (m.gpu_peak_allocated_bytes)
    gpu = fmt::format(" | GPU {} peak (run max {}, {} reserved)", bytes(m.gpu_peak_allocated_bytes),
                      bytes(run.gpu_peak_allocated_bytes_max ? run.gpu_peak_allocated_bytes_max
                                                             : m.gpu_peak_allocated_bytes),
                      bytes(run.gpu_peak_reserved_bytes_max ? run.gpu_peak_reserved_bytes_max
                                                            : m.gpu_peak_reserved_bytes));
  if (m.mfu) gpu += fmt::format(" | MFU {:.1f}% (median {:.1f}%)", 100.0 * *m.mfu, 100.0 * run.mfu_median.value_or(*m.mfu));
  return fmt::format("step {}/{} | loss {:.4f} | lr {:.3g} | grad {:.3g} | {:.0f} tok/s | {:.1f} img/s{} | ETA {}",
                     m.step, m.total_steps, m.loss, m.lr, m.grad_norm, m.tokens_per_s(), m.images_per_s(), gpu,
                     vr::format_duration(eta));
}

}  // namespace vr::train
