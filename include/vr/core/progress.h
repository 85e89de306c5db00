// Progress lines with a rate and ETA for long jobs (training steps, evaluation batches, conversions):
//
//   vr::ProgressMeter meter(/*total=*/100, "step");
//   meter.update(12, vr::ProgressMeter::now());
//   vr::log::info(meter.line({{"loss", 2.3129}, {"lr", 2e-5}}));
//   // "step 12/100 | loss 2.313 | lr 2e-05 | 1.52 s/step | ETA 2m14s"
//
// The rate is measured over a sliding window of recent updates (not since the start), so a slow first
// step (allocation, warm-up) stops distorting the ETA once it leaves the window. Times are passed in, so
// the arithmetic is testable with made-up clocks.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace vr {

class ProgressMeter {
 public:
  // total <= 0: unknown (no "/total", no ETA). window: how many recent updates the rate averages over.
  explicit ProgressMeter(int64_t total, std::string unit = "step", size_t window = 20);

  // `done` units are complete at time `now_s` (seconds, any fixed origin; see now()).
  void update(int64_t done, double now_s);

  int64_t done() const { return done_; }
  int64_t total() const { return total_; }
  // Units per second over the window; 0 until two updates with elapsed time exist.
  double rate() const;
  // Seconds until done == total at the current rate; negative when unknown.
  double eta_seconds() const;
  // "<unit> <done>/<total> | <name> <value> | ... | <rate> | ETA <eta>"; values printed with 4 significant digits.
  std::string line(const std::vector<std::pair<std::string, double>>& metrics = {}) const;

  // Monotonic clock in seconds.
  static double now();

 private:
  int64_t total_;
  std::string unit_;
  size_t window_;
  int64_t done_ = 0;
  std::deque<std::pair<int64_t, double>> points_;  // (done, time), oldest first
};

// "0.42s", "45s", "1m23s", "2h05m", "3d04h": two units at most; "?" for negative or non-finite input.
std::string format_duration(double seconds);
// Metric values in progress lines: 4 significant digits ("2.313", "2e-05", "1.235e+04", "nan").
std::string format_metric(double value);
// "512 B", "1.5 KiB", "14.96 GiB".
std::string format_bytes(uint64_t bytes);

}  // namespace vr
