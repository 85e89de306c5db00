// End-to-end: the real `vrtrain score` binary on a heuristic and on param_change with the fixture checkpoints;
// its JSON feeds a second run through selection.scores_file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/model/tiny_model.h"

namespace selection_score_cli_test {

namespace {

struct CliRun {
  int code;
  std::string out;
};

CliRun run_cli(const std::string& args) {
  std::string cmd = std::string(VRTRAIN_BIN) + " " + args + " 2>&1";
  CliRun r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CliRun vrtrain(const std::string& args) { return run_cli("score " + args); }

std::string slurp(const std::string& path) {
  return vr::read_file(path);
}

TEST(SelectionScoreCli, HelpTeaches) {
  CliRun r = vrtrain("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"Usage:", "--strategy", "selection.scores_file", "uniform", "param_change", "consecutive",
                        "selection.min_spacing", "Examples:", "angular", "layer_contribution", "triplet",
                        "selection.angular_block"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(SelectionScoreCli, UniformFromConfigFile) {
  std::string dir = vr::test::temp_dir("score_uniform");
  std::ofstream(dir + "/run.yaml") << "output_dir: " << dir << "/run\nselection:\n  strategy: uniform\n  count: 8\n";
  CliRun r = vrtrain("--config " + dir + "/run.yaml --num-layers 32");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("selected layers: 1,5,9,13,19,23,27,31"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(slurp(dir + "/run/selection_uniform.json"));
  EXPECT_EQ(j["layers"].get<std::vector<int64_t>>(), (std::vector<int64_t>{1, 5, 9, 13, 19, 23, 27, 31}));
  EXPECT_EQ(j["num_layers"], 32);
  EXPECT_TRUE(j["scores"].empty());
  std::string svg = slurp(dir + "/run/selection_uniform.svg");
  EXPECT_NE(svg.find("</svg>"), std::string::npos);

  // --set and --strategy override the file.
  r = vrtrain("--config " + dir + "/run.yaml --num-layers 32 --strategy consecutive --set selection.position=last");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("selected layers: 24,25,26,27,28,29,30,31"), std::string::npos) << r.out;
}

TEST(SelectionScoreCli, ErrorsAreClear) {
  CliRun r = vrtrain("--num-layers 32 --strategy unifrom");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("did you mean 'uniform'?"), std::string::npos) << r.out;
  r = vrtrain("--strategy uniform");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--num-layers"), std::string::npos) << r.out;
  r = vrtrain("--bogus");
  EXPECT_EQ(r.code, 2);
  r = vrtrain("--num-layers 8 --strategy manual --set selection.layers=1,9");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("layer 9 is out of range"), std::string::npos) << r.out;
}

TEST(SelectionScoreCli, ParamChangeOnFixtureCheckpointsThenReuse) {
  VR_REQUIRE_FIXTURE("layer_scores/param_change");
  const std::string fx = vr::test::fixtures_dir() + "/layer_scores/param_change";
  std::string dir = vr::test::temp_dir("score_pc");
  CliRun r = vrtrain("--strategy param_change --set selection.base_model=" + fx + "/base --set selection.tuned_model=" +
                  fx + "/perturbed --set selection.metric=frob --set selection.count=2 --output-dir " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("selected layers: 3,4"), std::string::npos) << r.out;  // frob: layers 3 (5.02), 4 (5.79)
  auto j = nlohmann::json::parse(slurp(dir + "/selection_param_change.json"));
  std::vector<double> s = j["scores"].get<std::vector<double>>();
  std::vector<double> want = {0, 2.15095, 0, 5.01902, 5.7893};  // fixture README, rounded to 6 digits
  ASSERT_EQ(s.size(), want.size());
  for (size_t l = 0; l < s.size(); ++l) EXPECT_NEAR(s[l], want[l], 1e-5) << "layer " << l;
  EXPECT_EQ(j["metric"], "frob");
  EXPECT_NE(slurp(dir + "/selection_param_change.svg").find("<rect"), std::string::npos);

  // Reuse: no checkpoints given, the saved scores decide (here with spacing: 4, then 3 is too close → 1).
  r = vrtrain("--strategy param_change --set selection.scores_file=" + dir +
              "/selection_param_change.json --set selection.count=2 --set selection.min_spacing=2 --output-dir " +
              dir + "/reuse");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("selected layers: 1,4"), std::string::npos) << r.out;
}

// attention and block_influence need the model and calibration data: `score` takes them from the run config
// (tiny model, synthetic-shapes), and training with selection.scores_file picks the same layers from the JSON.
TEST(SelectionScoreCli, ModelStrategiesOnTheTinyRunThenReuseInTraining) {
  const std::string dir = vr::test::temp_dir("score_model");
  vr::model::make_tiny_model(dir + "/tiny", vr::model::TinyModelOptions{});
  const std::string run = std::string("--config ") + VR_SOURCE_DIR + "/configs/tiny_synthetic.yaml --set model.path=" +
                          dir + "/tiny --set selection.calibration_samples=4 --set data.num_workers=1";
  for (const std::string strategy : {"block_influence", "attention"}) {
    CliRun r = vrtrain(run + " --strategy " + strategy + " --output-dir " + dir + "/" + strategy);
    ASSERT_EQ(r.code, 0) << r.out;
    const std::string json = dir + "/" + strategy + "/selection_" + strategy + ".json";
    auto j = nlohmann::json::parse(slurp(json));
    std::vector<double> s = j["scores"].get<std::vector<double>>();
    ASSERT_EQ(s.size(), 8u) << strategy;
    for (size_t l = 0; l < s.size(); ++l) {
      EXPECT_TRUE(std::isfinite(s[l])) << strategy << " layer " << l;
      EXPECT_GT(s[l], 0.0) << strategy << " layer " << l;  // BI = 1 - cos > 0 and attention mass > 0 here
      EXPECT_LE(s[l], strategy == "attention" ? 1.0 : 2.0) << strategy << " layer " << l;
    }
    std::vector<int64_t> layers = j["layers"].get<std::vector<int64_t>>();
    ASSERT_EQ(layers.size(), 2u) << strategy;  // fraction 0.25 of 8
    const std::string picked = "[" + std::to_string(layers[0]) + ", " + std::to_string(layers[1]) + "]";

    // Training computes the same scores itself (same data, same seed) ...
    CliRun t = run_cli("train " + run + " --set selection.strategy=" + strategy + " --set output_dir=" + dir +
                       "/train_" + strategy + " --dry-run");
    ASSERT_EQ(t.code, 0) << t.out;
    EXPECT_NE(t.out.find("picked 2 of 8 layers: " + picked), std::string::npos) << picked << "\n" << t.out;
    // ... and reuses the saved ones without a model pass when given the file.
    t = run_cli("train " + run + " --set selection.strategy=" + strategy + " --set selection.scores_file=" + json +
                " --set output_dir=" + dir + "/reuse_" + strategy + " --dry-run");
    ASSERT_EQ(t.code, 0) << t.out;
    EXPECT_NE(t.out.find("picked 2 of 8 layers: " + picked), std::string::npos) << picked << "\n" << t.out;
  }
}

// angular, layer_contribution and triplet print, plot and save like the others; their saved scores are reused.
TEST(SelectionScoreCli, NewCriteriaOnTheTinyRunThenReuse) {
  const std::string dir = vr::test::temp_dir("score_criteria");
  vr::model::make_tiny_model(dir + "/tiny", vr::model::TinyModelOptions{});
  const std::string run = std::string("--config ") + VR_SOURCE_DIR + "/configs/tiny_synthetic.yaml --set model.path=" +
                          dir + "/tiny --set selection.calibration_samples=2 --set data.num_workers=1";
  for (const std::string strategy : {"angular", "layer_contribution", "triplet"}) {
    const std::string extra = strategy == "angular" ? " --set selection.angular_block=2" : "";
    CliRun r = vrtrain(run + " --strategy " + strategy + extra + " --output-dir " + dir + "/" + strategy);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("selected layers: "), std::string::npos) << r.out;
    const std::string json = dir + "/" + strategy + "/selection_" + strategy + ".json";
    auto j = nlohmann::json::parse(slurp(json));
    ASSERT_EQ(j["scores"].size(), 8u) << strategy;
    ASSERT_EQ(j["layers"].size(), 2u) << strategy;  // fraction 0.25 of 8
    EXPECT_NE(slurp(dir + "/" + strategy + "/selection_" + strategy + ".svg").find("<rect"), std::string::npos);
    for (size_t l = 0; l < 8; ++l) {
      if (strategy == "triplet" && l > 4) {  // 1 − s3(i) exists for i + 3 <= L − 1 = 7
        EXPECT_TRUE(j["scores"][l].is_null()) << l;
        continue;
      }
      const double v = j["scores"][l].get<double>();
      EXPECT_GE(v, 0.0) << strategy << " layer " << l;  // distance / KL / 1 − cos are >= 0 ...
      EXPECT_LE(v, strategy == "layer_contribution" ? 100.0 : (strategy == "triplet" ? 2.0 : 1.0)) << strategy;
    }
    if (strategy == "angular") EXPECT_EQ(j["angular_block"], 2);
    if (strategy == "triplet") {
      EXPECT_NE(r.out.find("drop layers: "), std::string::npos) << r.out;
      EXPECT_EQ(j["layer_sets"]["tune"], j["layers"]);
      EXPECT_EQ(j["layer_sets"]["drop"].size(), 2u);
      EXPECT_EQ(j["series"]["s1"].size(), 8u);
    }
    // Reuse without a model pass gives the same layers.
    CliRun again = vrtrain("--num-layers 8 --strategy " + strategy + extra + " --set selection.scores_file=" + json +
                           " --output-dir " + dir + "/reuse_" + strategy);
    ASSERT_EQ(again.code, 0) << again.out;
    auto k = nlohmann::json::parse(slurp(dir + "/reuse_" + strategy + "/selection_" + strategy + ".json"));
    EXPECT_EQ(k["layers"], j["layers"]) << strategy;
  }
  // Angular scores of another block size are refused.
  CliRun bad = vrtrain("--num-layers 8 --strategy angular --set selection.scores_file=" + dir +
                       "/angular/selection_angular.json --output-dir " + dir + "/bad");
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find("blocks of 2"), std::string::npos) << bad.out;
}

}  // namespace

}  // namespace selection_score_cli_test
