// Run-level figures (vr/train/run_figures.h): maxima of the GPU peaks and medians of MFU and tokens/s per rank, in
// run_summary.json and the progress line; absent, not zero, on the CPU. The figures below are computed by hand.
#include "vr/train/run_figures.h"

#include <gtest/gtest.h>

#include "vr/train/metrics.h"
#include "vr/train/run_summary.h"

namespace train_run_figures_test {

using vr::train::RunFigureLog;
using vr::train::RunFigures;
using vr::train::StepMetrics;

StepMetrics step(int64_t tokens, double seconds, int64_t world_size) {
  StepMetrics m;
  m.tokens = tokens;
  m.step_time_s = seconds;
  m.world_size = world_size;
  return m;
}

TEST(RunFigures, CpuStepsGiveOnlyTheRateMedian) {
  RunFigureLog log;
  // tokens/s per rank: 1000/2/1 = 500 (warm-up, skipped), then 300, 100, 200 -> median 200.
  for (auto [tokens, seconds] : {std::pair{1000, 2.0}, {300, 1.0}, {100, 1.0}, {400, 2.0}})
    log.add(step(tokens, seconds, 1));
  const RunFigures f = log.figures();
  EXPECT_FALSE(f.gpu_peak_allocated_bytes_max.has_value());
  EXPECT_FALSE(f.gpu_peak_reserved_bytes_max.has_value());
  EXPECT_FALSE(f.mfu_median.has_value());
  ASSERT_TRUE(f.tokens_per_s_per_rank_median.has_value());
  EXPECT_DOUBLE_EQ(*f.tokens_per_s_per_rank_median, 200.0);
  nlohmann::json j;
  f.add_to_json(j);
  EXPECT_EQ(j, nlohmann::json({{"tokens_per_s_per_rank_median", 200.0}}));
}

TEST(RunFigures, GpuStepsGiveMaximaAndMedians) {
  RunFigureLog log;
  const int64_t GiB = int64_t{1} << 30;
  // (allocated GiB, reserved GiB, mfu); 2 ranks, 800 tokens in 2 s -> 200 tokens/s per rank every step.
  const std::vector<std::tuple<int64_t, int64_t, double>> steps = {
      {9, 12, 0.10}, {7, 10, 0.40}, {8, 11, 0.44}, {6, 13, 0.38}, {5, 9, 0.50}};
  for (const auto& [alloc, reserved, mfu] : steps) {
    StepMetrics m = step(800, 2.0, 2);
    m.gpu_peak_allocated_bytes = alloc * GiB;
    m.gpu_peak_reserved_bytes = reserved * GiB;
    m.mfu = mfu;
    log.add(m);
  }
  const RunFigures f = log.figures();
  EXPECT_EQ(f.gpu_peak_allocated_bytes_max, 9 * GiB);  // the warm-up step's peak counts: memory is memory
  EXPECT_EQ(f.gpu_peak_reserved_bytes_max, 13 * GiB);
  // MFU after the warm-up step: 0.40, 0.44, 0.38, 0.50 -> (0.40 + 0.44) / 2.
  ASSERT_TRUE(f.mfu_median.has_value());
  EXPECT_DOUBLE_EQ(*f.mfu_median, 0.42);
  EXPECT_DOUBLE_EQ(*f.tokens_per_s_per_rank_median, 200.0);

  // The same steps read back from their metrics.jsonl lines (an unfinished run in `vrtrain compare`).
  RunFigureLog from_lines;
  for (const auto& [alloc, reserved, mfu] : steps) {
    StepMetrics m = step(800, 2.0, 2);
    m.gpu_peak_allocated_bytes = alloc * GiB;
    m.gpu_peak_reserved_bytes = reserved * GiB;
    m.mfu = mfu;
    from_lines.add_line(m.to_json());
  }
  nlohmann::json a, b;
  f.add_to_json(a);
  from_lines.figures().add_to_json(b);
  EXPECT_EQ(a, b);
}

TEST(RunFigures, RunSummaryWritesThemOnlyWhenPresent) {
  vr::train::RunSummary cpu;
  cpu.figures.tokens_per_s_per_rank_median = 123.0;
  const nlohmann::json c = cpu.to_json();
  EXPECT_FALSE(c.contains("gpu_peak_allocated_bytes_max"));
  EXPECT_FALSE(c.contains("mfu_median"));
  EXPECT_DOUBLE_EQ(c.at("tokens_per_s_per_rank_median").get<double>(), 123.0);

  vr::train::RunSummary gpu = cpu;
  gpu.figures.gpu_peak_allocated_bytes_max = 30'000'000'000;
  gpu.figures.gpu_peak_reserved_bytes_max = 34'000'000'000;
  gpu.figures.mfu_median = 0.41;
  const auto back = vr::train::RunSummary::from_json(gpu.to_json());
  EXPECT_EQ(back.figures.gpu_peak_allocated_bytes_max, int64_t{30'000'000'000});
  EXPECT_EQ(back.figures.gpu_peak_reserved_bytes_max, int64_t{34'000'000'000});
  EXPECT_EQ(back.figures.mfu_median, 0.41);
  EXPECT_EQ(back.to_json(), gpu.to_json());
  EXPECT_FALSE(vr::train::RunSummary::from_json(c).figures.mfu_median.has_value());
}

}  // namespace train_run_figures_test
