// Learning-rate schedules with linear warmup, as in Hugging Face transformers (get_*_schedule_with_warmup).
// With S total optimizer steps and W = ceil(warmup_ratio · S) warmup steps, the factor applied to each group's
// peak lr at (0-based) step s is
//   s < W:  s / W                                     (so the very first step runs at lr 0, like HF)
//   cosine: 0.5 · (1 + cos(π · (s − W) / (S − W)))
//   linear: (S − s) / (S − W)
//   constant: 1
#pragma once
#include <cstdint>
#include <string>

namespace vr::train {

struct LrSchedule {
  std::string kind = "cosine";  // cosine | linear | constant
  int64_t total_steps = 1;      // S
  int64_t warmup_steps = 0;     // W

  // W = ceil(ratio · S) (HF TrainingArguments.get_warmup_steps).
  static LrSchedule make(const std::string& kind, int64_t total_steps, double warmup_ratio);
  double factor(int64_t step) const;  // multiplier of the peak lr at 0-based optimizer step `step`
};

}  // namespace vr::train
