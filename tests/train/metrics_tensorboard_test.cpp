// The trainer's TensorBoard side: which metrics.jsonl keys become which tags (units, absent GPU fields), and
// that log.tensorboard switches the event file on and off (one record per step after the file version).
#include "vr/train/metrics_tensorboard.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "train/toy_task.h"
#include "vr/core/file_io.h"
#include "vr/train/metrics.h"
#include "vr/train/trainable_params.h"
#include "vr/train/trainer.h"

namespace train_metrics_tensorboard_test {

namespace fs = std::filesystem;
using namespace vr::train;

std::map<std::string, double> as_map(const vr::ScalarList& l) { return {l.begin(), l.end()}; }

TEST(TensorBoardMetrics, TagsOfACpuLineAndAGpuLine) {
  StepMetrics m;
  m.step = 2;
  m.loss = 1.5;
  m.lr = 1e-3;
  m.grad_norm = 0.75;
  m.tokens = 1000;
  m.step_time_s = 0.5;
  m.host_peak_rss_bytes = int64_t{3} << 20;
  nlohmann::json line = m.to_json();
  line["padding_share"] = 0.25;
  auto cpu = as_map(tensorboard_scalars(line));
  EXPECT_EQ(cpu.at("train/loss"), 1.5);
  EXPECT_EQ(cpu.at("train/lr"), 1e-3);
  EXPECT_EQ(cpu.at("train/grad_norm"), 0.75);
  EXPECT_EQ(cpu.at("perf/tokens_per_s"), 2000.0);
  EXPECT_EQ(cpu.at("data/padding_share"), 0.25);
  EXPECT_EQ(cpu.at("memory/host_peak_rss_mib"), 3.0);
  for (const char* absent : {"memory/gpu_peak_allocated_mib", "perf/mfu", "perf/comm_wait_s"})
    EXPECT_EQ(cpu.count(absent), 0u) << absent;

  m.gpu_peak_allocated_bytes = int64_t{5} << 30;
  m.gpu_peak_reserved_bytes = int64_t{6} << 30;
  m.mfu = 0.4;
  m.allreduce_bytes = 1024;
  m.comm_wait_s = 0.01;
  auto gpu = as_map(tensorboard_scalars(m.to_json()));
  EXPECT_EQ(gpu.at("memory/gpu_peak_allocated_mib"), 5.0 * 1024);
  EXPECT_EQ(gpu.at("memory/gpu_peak_reserved_mib"), 6.0 * 1024);
  EXPECT_EQ(gpu.at("perf/mfu"), 0.4);
  EXPECT_EQ(gpu.at("perf/comm_wait_s"), 0.01);
}

std::vector<fs::path> event_files(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) out.push_back(e.path());
  return out;
}

size_t count_records(const fs::path& file) {
  const std::string bytes = vr::read_file(file.string());
  size_t n = 0;
  for (size_t at = 0; at + 8 <= bytes.size(); ++n) {
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[at + i]);
    at += 16 + len;
  }
  return n;
}

TEST(TensorBoardMetrics, TrainerWritesOneFileWhenOnNoneWhenOff) {
  for (bool on : {true, false}) {
    const std::string dir = vr::test::temp_dir(on ? "tb_trainer_on" : "tb_trainer_off");
    auto model = std::make_shared<vr::test::ToyLvlm>();
    apply_freeze(*model, FreezeSpec{"sft", "full", {1}, true, false, true});
    vr::test::ToyTask task(model, 8, 64, 0.0);
    RunConfig cfg;
    cfg.model.path = "toy";
    cfg.output_dir = dir;
    cfg.train.max_steps = 3;
    cfg.log.tensorboard = on;
    Trainer(cfg, task, "yaml").run();
    auto files = event_files(dir);
    if (!on) {
      EXPECT_TRUE(files.empty());
      continue;
    }
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(count_records(files[0]), 1u + 3u);  // file version + one event per step
  }
}

}  // namespace train_metrics_tensorboard_test
