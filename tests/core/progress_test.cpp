// Progress lines, rate/ETA arithmetic with injected clocks, and the small formatters.
#include "vr/core/progress.h"

#include <cmath>

#include <gtest/gtest.h>

namespace core_progress_test {

TEST(Progress, LineWithRateAndEta) {
  vr::ProgressMeter m(100, "step");
  EXPECT_EQ(m.line(), "step 0/100 | ETA ?");
  m.update(10, 1000.0);
  EXPECT_EQ(m.rate(), 0.0);  // one point: no rate yet
  m.update(12, 1003.0);      // 2 steps in 3 s
  EXPECT_DOUBLE_EQ(m.rate(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.eta_seconds(), 88 * 1.5);  // 88 steps left at 1.5 s/step = 132 s
  EXPECT_EQ(m.line({{"loss", 2.31234}, {"lr", 2e-5}}), "step 12/100 | loss 2.312 | lr 2e-05 | 1.5 s/step | ETA 2m12s");
}

TEST(Progress, FastJobsShowUnitsPerSecondAndUnknownTotal) {
  vr::ProgressMeter m(0, "batch");
  m.update(0, 0.0);
  m.update(500, 2.0);
  EXPECT_EQ(m.line({{"acc", 0.5}}), "batch 500 | acc 0.5 | 250 batch/s");
  EXPECT_LT(m.eta_seconds(), 0);
}

TEST(Progress, RateUsesOnlyTheRecentWindow) {
  vr::ProgressMeter m(1000, "step", /*window=*/3);
  m.update(0, 0.0);
  m.update(1, 100.0);  // a slow first step (warm-up)
  m.update(2, 101.0);
  EXPECT_DOUBLE_EQ(m.rate(), 2.0 / 101.0);
  m.update(3, 102.0);  // window now holds steps 1..3: the warm-up left it
  EXPECT_DOUBLE_EQ(m.rate(), 1.0);
  EXPECT_DOUBLE_EQ(m.eta_seconds(), 997.0);
  m.update(1000, 103.0);
  EXPECT_EQ(m.eta_seconds(), 0.0);
  // going backwards (resumed run, new clock) restarts the estimate
  m.update(5, 1.0);
  EXPECT_EQ(m.rate(), 0.0);
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(vr::format_duration(0.42), "0.42s");
  EXPECT_EQ(vr::format_duration(45), "45s");
  EXPECT_EQ(vr::format_duration(83), "1m23s");
  EXPECT_EQ(vr::format_duration(2 * 3600 + 5 * 60 + 7), "2h05m");
  EXPECT_EQ(vr::format_duration(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(vr::format_duration(-1), "?");
  EXPECT_EQ(vr::format_duration(NAN), "?");
}

TEST(Progress, FormatMetricAndBytes) {
  EXPECT_EQ(vr::format_metric(2.31234), "2.312");
  EXPECT_EQ(vr::format_metric(12345.6), "1.235e+04");
  EXPECT_EQ(vr::format_metric(NAN), "nan");
  EXPECT_EQ(vr::format_bytes(512), "512 B");
  EXPECT_EQ(vr::format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(vr::format_bytes(16060522496ull), "14.96 GiB");  // Llama-3-8B in bf16
}

}  // namespace core_progress_test
