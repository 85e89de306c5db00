#include "vr/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "vr/core/error.h"

namespace vr::train {

LrSchedule LrSchedule::make(const std::string& kind, int64_t total_steps, double warmup_ratio) {
  VR_CHECK(kind == "cosine" || kind == "linear" || kind == "constant",
           "train.lr_scheduler: unknown schedule '{}' (cosine, linear, constant)", kind);
  VR_CHECK(total_steps > 0, "learning-rate schedule: total steps must be > 0, got {}", total_steps);
  LrSchedule s;
  s.kind = kind;
  s.total_steps = total_steps;
  s.warmup_steps = static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
  return s;
}

double LrSchedule::factor(int64_t step) const {
  if (step < warmup_steps) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  if (kind == "constant") return 1.0;
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double progress = static_cast<double>(step - warmup_steps) / decay_steps;
  if (kind == "linear") return std::max(0.0, 1.0 - progress);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));  // HF: num_cycles 0.5 → cos(π·2·0.5·progress)
}

}  // namespace vr::train
