// The README's first run writes TensorBoard curves that TensorBoard's own reader loads, equal to metrics.jsonl:
// same tags, steps 1..N once each, values equal to float32 rounding. The run is resumed from a mid-run checkpoint
// after it finished, so steps 3-4 are written twice (by the first session and by the resumed one); the reader
// must show each step once, with the resumed session's values (those metrics.jsonl keeps).
// Skips where the Python oracle or its tensorboard package is absent (scripts/oracle.sh installs both).
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/cli.h"
#include "support/fixtures.h"
#include "support/python_oracle.h"
#include "vr/core/jsonl.h"
#include "vr/core/tensorboard_writer.h"

namespace e2e_tensorboard_test {

namespace fs = std::filesystem;

// metrics.jsonl key and the scale of each tag the CPU run writes (train/metrics_tensorboard.h).
const std::map<std::string, std::pair<std::string, double>> kCpuTags = {
    {"train/loss", {"loss", 1}},
    {"train/grad_norm", {"grad_norm", 1}},
    {"train/lr", {"lr", 1}},
    {"train/lr_projector", {"lr_projector", 1}},
    {"perf/tokens_per_s", {"tokens_per_s", 1}},
    {"perf/images_per_s", {"images_per_s", 1}},
    {"perf/step_time_s", {"step_time_s", 1}},
    {"data/padding_share", {"padding_share", 1}},
    {"memory/host_peak_rss_mib", {"host_peak_rss_bytes", 1.0 / (1024 * 1024)}},
};

TEST(TensorBoardOracle, TinyRunCurvesEqualMetricsJsonlAndResumeShowsEachStepOnce) {
  VR_REQUIRE_ORACLE();
  const std::string out = vr::test::temp_dir("tb_oracle");
  const std::string run = out + "/run";
  for (const char* d : {"/first", "/resume"}) fs::create_directories(out + d);
  const std::string args = fmt::format(
      "--config {}/configs/tiny_synthetic.yaml --set model.path={}/model --set output_dir={} "
      "--set train.max_steps=4 --set train.save_every=2 --set train.keep_last=5 --set train.num_threads=1 "
      "--set data.num_workers=1 --set train.device=cpu --set train.export_final=false",
      VR_SOURCE_DIR, out, run);
  auto first = vr::test::run_vrtrain(args, out + "/first");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto first_session = vr::read_jsonl(run + "/metrics.jsonl");
  ASSERT_EQ(first_session.size(), 4u);
  auto resumed = vr::test::run_vrtrain(args + " --set resume=" + run + "/checkpoints/step_00000002", out + "/resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  ASSERT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;

  auto py = vr::test::run_oracle_python(fmt::format("{}/tests/e2e/tensorboard_read.py {}", VR_SOURCE_DIR, run),
                                        out + "/python");
  if (py.exit_code == 77) GTEST_SKIP() << py.output;
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const auto read = nlohmann::json::parse(py.output.substr(py.output.rfind("\n{") + 1));
  EXPECT_EQ(read.at("files").get<int>(), 2) << "one event file per session";

  const auto lines = vr::read_jsonl(run + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  const auto& tags = read.at("tags");
  for (const auto& [tag, key_scale] : kCpuTags) {
    ASSERT_TRUE(tags.contains(tag)) << tag << " missing in " << py.output;
    const auto& points = tags.at(tag);
    ASSERT_EQ(points.size(), 4u) << tag << ": each step once: " << points.dump();
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(points[i][0].get<int64_t>(), lines[i].at("step").get<int64_t>()) << tag;
      const double expected = lines[i].at(key_scale.first).get<double>() * key_scale.second;
      EXPECT_FLOAT_EQ(points[i][1].get<float>(), static_cast<float>(expected)) << tag << " step " << i + 1;
    }
  }
  EXPECT_EQ(tags.size(), kCpuTags.size()) << "no GPU or data-parallel tags on one CPU process: " << tags.dump();
  // The resumed session's steps 3-4 replaced the first session's: their step times (never equal to the
  // microsecond across two processes) are the ones metrics.jsonl now holds.
  const auto& times = tags.at("perf/step_time_s");
  for (size_t i = 2; i < 4; ++i)
    EXPECT_NE(static_cast<float>(first_session[i].at("step_time_s").get<double>()), times[i][1].get<float>())
        << "step " << i + 1 << " still shows the first session's value";
}

// Without the trimming a resume does, TensorBoard's reader alone must drop a killed session's later steps at the
// next session's SessionLog START (files kept from before a resume, copied elsewhere, still read right).
TEST(TensorBoardOracle, SessionStartMakesTheReaderDropALaterSessionsOrphans) {
  VR_REQUIRE_ORACLE();
  const std::string dir = vr::test::temp_dir("tb_oracle_start") + "/run";
  {
    vr::TensorBoardWriter killed(dir);  // steps 1-4; the checkpoint was at 2
    for (int64_t step = 1; step <= 4; ++step) killed.add_scalar("train/loss", step, step, 100.0 + step);
    fs::rename(killed.path(), dir + "/events.out.tfevents.0000000001.host.1");  // an earlier session's name
  }
  {
    vr::TensorBoardWriter resumed(dir);
    resumed.add_session_start(3, 200.0);
    for (int64_t step = 3; step <= 4; ++step) resumed.add_scalar("train/loss", step, 10.0 * step, 200.0 + step);
  }
  auto py = vr::test::run_oracle_python(fmt::format("{}/tests/e2e/tensorboard_read.py {}", VR_SOURCE_DIR, dir),
                                        dir + "/../python");
  if (py.exit_code == 77) GTEST_SKIP() << py.output;
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const auto read = nlohmann::json::parse(py.output.substr(py.output.rfind("\n{") + 1));
  EXPECT_EQ(read.at("tags").at("train/loss").dump(), "[[1,1.0],[2,2.0],[3,30.0],[4,40.0]]") << py.output;
}

}  // namespace e2e_tensorboard_test
