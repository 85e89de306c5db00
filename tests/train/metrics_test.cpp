// One metrics.jsonl line: GPU fields only where there is a GPU (absent, not zero, on the CPU), throughput per rank.
#include "vr/train/metrics.h"

#include <gtest/gtest.h>

namespace train_metrics_test {

using vr::train::StepMetrics;

TEST(StepMetricsJson, GpuFieldsAbsentOnTheCpuPresentOnCuda) {
  StepMetrics m;
  m.step = 3;
  m.tokens = 8000;
  m.step_time_s = 2.0;
  m.world_size = 4;
  nlohmann::json cpu = m.to_json();
  EXPECT_FALSE(cpu.contains("gpu_peak_allocated_bytes"));
  EXPECT_FALSE(cpu.contains("gpu_peak_reserved_bytes"));
  EXPECT_FALSE(cpu.contains("mfu"));
  EXPECT_DOUBLE_EQ(cpu.at("tokens_per_s").get<double>(), 4000.0);
  EXPECT_DOUBLE_EQ(cpu.at("tokens_per_s_per_rank").get<double>(), 1000.0);
  EXPECT_EQ(vr::train::format_progress(m, 1.0).find("GPU"), std::string::npos);

  m.gpu_peak_allocated_bytes = int64_t{3} << 30;
  m.gpu_peak_reserved_bytes = int64_t{4} << 30;
  nlohmann::json gpu = m.to_json();
  EXPECT_EQ(gpu.at("gpu_peak_allocated_bytes").get<int64_t>(), int64_t{3} << 30);
  EXPECT_EQ(gpu.at("gpu_peak_reserved_bytes").get<int64_t>(), int64_t{4} << 30);
  EXPECT_NE(vr::train::format_progress(m, 1.0).find("GPU 3 GiB peak (run max 3 GiB, 4 GiB reserved)"), std::string::npos)
      << vr::train::format_progress(m, 1.0);
  EXPECT_FALSE(gpu.contains("mfu"));
  m.mfu = 0.412;
  EXPECT_DOUBLE_EQ(m.to_json().at("mfu").get<double>(), 0.412);
  EXPECT_NE(vr::train::format_progress(m, 1.0).find("MFU 41.2% (median 41.2%)"), std::string::npos);
  // With the run's figures so far: the step's own values beside the run's maximum and median.
  vr::train::RunFigures run;
  run.gpu_peak_allocated_bytes_max = int64_t{5} << 30;
  run.gpu_peak_reserved_bytes_max = int64_t{6} << 30;
  run.mfu_median = 0.40;
  const std::string line = vr::train::format_progress(m, 1.0, run);
  EXPECT_NE(line.find("GPU 3 GiB peak (run max 5 GiB, 6 GiB reserved) | MFU 41.2% (median 40.0%)"), std::string::npos)
      << line;
}

}  // namespace train_metrics_test
