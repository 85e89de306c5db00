// `vrtrain study` in its reduced form: one seed, an 8-layer model, two stage-1 steps, two steps per arm, a few
// held-out images, two processes at once. Checks the pieces a study is made of (the shared stage-1 run, the arms,
// evaluations, compare report, verdict), that every arm started from the seed's stage-1 checkpoint, that the
// verdict names every claim, and that a rerun reuses finished pieces instead of training again.
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/file_io.h"

namespace e2e_study_cli_test {

namespace fs = std::filesystem;

namespace {

vr::test::CliResult vrtrain(const std::string& args) {
  return vr::test::run_vrtrain(args, vr::test::temp_dir("study_cli_log"));
}

TEST(StudyCli, ReducedStudyProducesRunsReportAndVerdict) {
  const std::string out = vr::test::temp_dir("study_cli") + "/study";
  const std::string args = fmt::format(
      "study --output {} --seeds 1 --set model.layers=8 --set base.steps=2 --set train.steps=2 --set train.samples=16 "
      "--set train.batch_size=2 --set train.threads=1 --set parallel=2 --set eval.samples=2 "
      "--set arms=[full,uniform,block_influence] "
      "--set prune.remove=[2] --set prune.methods=[region,last,heal] --set prune.heal_steps=2 --set text.samples=4",
      out);
  auto r = vrtrain(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* p : {"base/base-s0/run_summary.json", "base/base-s0/eval/shapes.summary.json",
                        "selection/s0/selection_block_influence.json",
                        "runs/full-s0/run_summary.json", "runs/uniform-s0/eval/shapes.summary.json", "compare/compare.md",
                        "compare/compare.json", "compare/loss_curves.svg", "compare/layer_selection.png", "verdict.md",
                        "verdict.json", "study.yaml", "base.yaml"})
    EXPECT_TRUE(fs::exists(out + "/" + p)) << p;
  const nlohmann::json v = vr::read_json_file(out + "/verdict.json");
  ASSERT_GE(v["arms"].size(), 2u);
  EXPECT_EQ(v["arms"][0]["arm"], "full");
  EXPECT_EQ(v["arms"][1]["arm"], "uniform");
  EXPECT_EQ(v["arms"][0]["seeds"], 1);
  // Stage 1 ran once for the seed, and both arms started from its checkpoint (not from the random model).
  const std::string start = out + "/base/base-s0/final";
  ASSERT_EQ(v["start_models"].size(), 1u);
  EXPECT_EQ(v["start_models"][0], start);
  EXPECT_NE(vr::read_file(out + "/base/base-s0/config.yaml").find("path: \"" + out + "/models/seed0\""), std::string::npos);
  for (const char* arm : {"full-s0", "uniform-s0"})
    EXPECT_NE(vr::read_file(out + "/runs/" + arm + "/config.yaml").find("path: \"" + start + "\""), std::string::npos) << arm;
  bool has_base_row = false;
  for (const auto& a : v["arms"]) has_base_row = has_base_row || a["arm"] == "base";
  EXPECT_TRUE(has_base_row) << v.dump();
  // Text retention: the held-out caption loss of the base model and of every arm, and its rise in the verdict.
  for (const char* dir : {"base/base-s0", "runs/full-s0", "runs/uniform-s0"}) {
    const nlohmann::json t = vr::read_json_file(out + "/" + dir + "/eval/loss-synthetic-shapes.summary.json");
    EXPECT_EQ(t["n"], 4) << dir;
    EXPECT_GT(t["metrics"]["loss"].get<double>(), 0) << dir;
    EXPECT_EQ(t["metrics"]["synthetic"]["template"], "plain") << dir;
  }
  for (const auto& a : v["arms"])
    if (a["arm"] == "uniform" || a["arm"] == "full") EXPECT_TRUE(a["text_loss_rise_mean"].is_number()) << a.dump();
  bool has_uniform_claim = false, has_text_claim = false;
  for (const auto& c : v["claims"]) {
    const std::string verdict = c["verdict"];
    EXPECT_TRUE(verdict == "holds" || verdict == "does not hold" || verdict == "inconclusive" ||
                verdict == "not measured")
        << c.dump();
    if (c["claim"].get<std::string>().rfind("uniform 25 % reaches", 0) == 0) {
      has_uniform_claim = true;
      EXPECT_NE(verdict, "not measured");
    }
    if (c["claim"].get<std::string>().find("stage-1 language") != std::string::npos) {
      has_text_claim = true;
      EXPECT_NE(verdict, "not measured") << c.dump();
    }
  }
  EXPECT_TRUE(has_uniform_claim);
  EXPECT_TRUE(has_text_claim);
  // The uniform run trained 2 of 8 layers, full all 8.
  const nlohmann::json cmp = vr::read_json_file(out + "/compare/compare.json");
  // block_influence was selected ahead of training (selection/) and trained those layers, or, when it picked the
  // uniform run's layers, reused that run (no folder of its own, named in the verdict).
  const bool reused = !fs::exists(out + "/runs/block_influence-s0");
  ASSERT_EQ(cmp["runs"].size(), reused ? 2u : 3u);
  EXPECT_EQ(cmp["runs"][1]["layers"].size(), 2u);
  EXPECT_EQ(cmp["runs"][0]["layers"].size(), 8u);
  const nlohmann::json picked = vr::read_json_file(out + "/selection/s0/selection_block_influence.json");
  if (reused) {
    EXPECT_EQ(cmp["runs"][1]["layers"], picked["layers"]);
    EXPECT_NE(vr::read_file(out + "/verdict.md").find("`block_influence-s0` = `uniform-s0`"), std::string::npos);
  } else {
    EXPECT_EQ(cmp["runs"][2]["layers"], picked["layers"]);
  }
  // Pruning arms ran when this build has `vrtrain prune`, else the verdict says they did not.
  const bool has_prune = vrtrain("prune --help").exit_code == 0;
  const std::string md = vr::read_file(out + "/verdict.md");
  if (has_prune) {
    EXPECT_TRUE(fs::exists(out + "/pruned/prune-region-2-s0/eval/shapes.summary.json"));
    EXPECT_NE(md.find("| prune-last-2 | 1 |"), std::string::npos) << md;
    // The healed arm: pruned by `last`, then trained 2 steps (its run kept next to the model), and judged.
    EXPECT_NE(md.find("| prune-heal-2 | 1 |"), std::string::npos) << md;
    EXPECT_TRUE(fs::exists(out + "/pruned/prune-heal-2-s0/heal")) << "healing run folder";
    EXPECT_NE(md.find("healed pruning of 2 layers"), std::string::npos) << md;
  } else {
    EXPECT_NE(md.find("Pruning arms not run"), std::string::npos) << md;
  }
  // A rerun reuses every finished piece: no training step is taken again.
  const auto before = fs::last_write_time(out + "/runs/uniform-s0/metrics.jsonl");
  const auto base_before = fs::last_write_time(out + "/base/base-s0/metrics.jsonl");
  r = vrtrain(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(fs::last_write_time(out + "/runs/uniform-s0/metrics.jsonl"), before);
  EXPECT_EQ(fs::last_write_time(out + "/base/base-s0/metrics.jsonl"), base_before);
  // A bad key is named.
  r = vrtrain(fmt::format("study --output {} --set arms=[full,everything]", out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown arm 'everything'"), std::string::npos) << r.output;
}

}  // namespace

}  // namespace e2e_study_cli_test
