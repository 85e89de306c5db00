// `vrtrain compare` on runs this test trains (full and uniform, a few steps each) and evaluates: the Markdown and
// JSON tables carry every field, the plots are valid non-empty SVG and PNG files.
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/model/tiny_model.h"

namespace e2e_compare_cli_test {

namespace fs = std::filesystem;

namespace {

vr::test::CliResult vrtrain(const std::string& args) {
  return vr::test::run_vrtrain(args, vr::test::temp_dir("compare_cli_log"));
}

TEST(CompareCli, TableJsonAndPlotsFromRealRuns) {
  const std::string root = vr::test::temp_dir("compare_cli");
  vr::model::TinyModelOptions o;
  o.seed = 1;
  o.num_layers = 4;
  vr::model::make_tiny_model(root + "/model", o);
  const std::string common = fmt::format(
      "--config {}/configs/tiny_synthetic.yaml --set model.path={}/model --set train.max_steps=3 "
      "--set train.batch_size=2 --set data.synthetic.num_samples=16 --set train.save_every=0 --set train.num_threads=1 "
      "--set data.num_workers=1 --set train.log_every=1",
      VR_SOURCE_DIR, root);
  for (const char* name : {"full", "uniform"}) {
    const std::string stage = std::string(name) == "full" ? "full" : "sft";
    auto r = vrtrain(fmt::format("train {} --set output_dir={}/{} --set train.stage={}", common, root, name, stage));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = vrtrain(fmt::format("eval --model {0}/{1}/final --samples 2 --threads 1 --output {0}/{1}/eval", root, name));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const std::string out = root + "/report";
  auto r = vrtrain(fmt::format("compare {0}/uniform {0}/full --output {1}", root, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const nlohmann::json j = vr::read_json_file(out + "/compare.json");
  EXPECT_EQ(j["baseline"], "full");  // the full-tuning run, though listed second
  ASSERT_EQ(j["runs"].size(), 2u);
  const auto& uni = j["runs"][0];
  const auto& full = j["runs"][1];
  EXPECT_EQ(uni["strategy"], "uniform");
  ASSERT_EQ(uni["layers"].size(), 1u);  // uniform 25 % of 4 layers
  const std::string uni_layer = std::to_string(uni["layers"][0].get<int64_t>());
  EXPECT_EQ(full["layers"].size(), 4u);
  EXPECT_EQ(uni["steps"], 3);
  EXPECT_EQ(uni["samples"], 6);
  EXPECT_LT(uni["trainable_params"].get<int64_t>(), full["trainable_params"].get<int64_t>());
  EXPECT_GT(uni["trainable_share"].get<double>(), 0.0);
  for (const char* k : {"step_time_s", "tokens_per_s", "final_loss", "best_loss", "step_time_vs_baseline"})
    EXPECT_TRUE(uni[k].is_number()) << k << " " << uni.dump();
  EXPECT_GT(uni["peak_rss_bytes"].get<int64_t>(), 0);
  EXPECT_LE(uni["best_loss"].get<double>(), uni["final_loss"].get<double>());
  ASSERT_TRUE(uni["evals"].contains("shapes"));
  EXPECT_TRUE(uni["evals"]["shapes"]["value"].is_number());
  EXPECT_DOUBLE_EQ(full["evals"]["shapes"]["vs_baseline"].get<double>(), 1.0);

  const std::string md = vr::read_file(out + "/compare.md");
  EXPECT_NE(md.find("| full (baseline) | full | all |"), std::string::npos) << md;
  EXPECT_NE(md.find("| uniform | uniform | " + uni_layer + " |"), std::string::npos) << md;
  for (const char* stem : {"loss_curves", "layer_scores", "layer_selection"}) {
    const std::string svg = vr::read_file(out + "/" + stem + ".svg");
    EXPECT_EQ(svg.rfind("<svg ", 0), 0u) << stem;
    EXPECT_NE(svg.find("</svg>"), std::string::npos) << stem;
    const std::string png = vr::read_file(out + "/" + stem + ".png");
    EXPECT_GT(png.size(), 1000u) << stem;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << stem;
  }
  // Both runs' curves are on the loss chart.
  const std::string curves = vr::read_file(out + "/loss_curves.svg");
  EXPECT_EQ(std::count(curves.begin(), curves.end(), 'p') > 0, true);
  EXPECT_NE(curves.find(">uniform<"), std::string::npos);
  EXPECT_NE(curves.find(">full<"), std::string::npos);
  // Not a run directory: a clear error.
  r = vrtrain(fmt::format("compare {} --output {}/x", out, root));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is not a training run"), std::string::npos) << r.output;
}

}  // namespace

}  // namespace e2e_compare_cli_test
