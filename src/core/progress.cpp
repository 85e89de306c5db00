#include "vr/core/progress.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace vr {

ProgressMeter::ProgressMeter(int64_t total, std::string unit, size_t window)
    : total_(total), unit_(std::move(unit)), window_(window < 2 ? 2 : window) {}

void ProgressMeter::update(int64_t done, double now_s) {
  done_ = done;
  // A restart or a clock going backwards (resume) invalidates the history.
  if (!points_.empty() && (done < points_.back().first || now_s < points_.back().second)) points_.clear();
  points_.emplace_back(done, now_s);
  while (points_.size() > window_) points_.pop_front();
}

double ProgressMeter::rate() const {
  if (points_.size() < 2) return 0.0;
  const double dt = points_.back().second - points_.front().second;
  const double dn = static_cast<double>(points_.back().first - points_.front().first);
  return dt > 0 ? dn / dt : 0.0;
}

double ProgressMeter::eta_seconds() const {
  if (total_ <= 0) return -1.0;
  if (done_ >= total_) return 0.0;
  const double r = rate();
  return r > 0 ? static_cast<double>(total_ - done_) / r : -1.0;
}

std::string ProgressMeter::line(const std::vector<std::pair<std::string, double>>& metrics) const {
  std::string out = total_ > 0 ? fmt::format("{} {}/{}", unit_, done_, total_) : fmt::format("{} {}", unit_, done_);
  for (const auto& [name, value] : metrics) out += fmt::format(" | {} {}", name, format_metric(value));
  const double r = rate();
  if (r > 0) {
    // Slow jobs read better as seconds per unit (8B training: "12.4 s/step"), fast ones as units per second.
    out += r >= 1.0 ? fmt::format(" | {:.3g} {}/s", r, unit_) : fmt::format(" | {:.3g} s/{}", 1.0 / r, unit_);
  }
  if (total_ > 0) out += " | ETA " + format_duration(eta_seconds());
  return out;
}

double ProgressMeter::now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 10) return fmt::format("{:.2g}s", seconds);
  const int64_t s = std::llround(seconds);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02d}h", s / 86400, (s % 86400) / 3600);
}

std::string format_metric(double value) { return fmt::format("{:.4g}", value); }

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  return fmt::format("{:.4g} {}", v, units[u]);
}

}  // namespace vr
