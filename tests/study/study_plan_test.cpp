// The study's plan without running it: the arms that score layers on the model are selected ahead of training
// (`vrtrain score` per arm and seed), and an arm whose layers an earlier arm of its seed already trains reuses that
// run instead of repeating it.
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/selection/selection.h"
#include "vr/study/study_plan.h"

namespace vr::study::study_plan_test {
namespace {

namespace fs = std::filesystem;

// A selection file as `vrtrain score` writes it.
void write_selection(const std::string& out, const std::string& strategy, const std::vector<int64_t>& layers) {
  vr::selection::SelectionResult r;
  r.strategy = strategy;
  r.layers = layers;
  r.num_layers = 16;
  r.scores.assign(16, 0.5);
  r.rationale = "test";
  fs::create_directories(out + "/selection/s0");
  vr::atomic_write_file(out + "/selection/s0/selection_" + strategy + ".json", r.to_json().dump());
}

std::string args_of(const StudyJob& job, size_t command) { return fmt::format("{}", fmt::join(job.commands.at(command).args, " ")); }

TEST(StudyPlan, ScoringArmsAreSelectedFirstAndSameLayersReuseARun) {
  StudyConfig sc;
  sc.seeds = 1;
  sc.arms = {"full", "consecutive-first", "uniform", "block_influence", "attention"};
  const std::string out = vr::test::temp_dir("study_plan");
  const StudyPlan plan(sc, out);
  const std::vector<std::string> start = {out + "/base/base-s0/final"};

  // Nothing selected yet: one `vrtrain score` per scoring arm, with the arm's seeds and start model.
  auto sel = plan.selection_jobs(start);
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0].name, "select-block_influence-s0");
  const std::string score = args_of(sel[0], 0);
  EXPECT_EQ(score.rfind("score --config " + out + "/base.yaml --output-dir " + out + "/selection/s0", 0), 0u) << score;
  for (const char* set : {"selection.strategy=block_influence", "train.seed=42", "selection.seed=0",
                          "model.path="})
    EXPECT_NE(score.find(set), std::string::npos) << set << " in " << score;

  // block_influence picked consecutive-first's layers; attention others.
  write_selection(out, "block_influence", {0, 1, 2, 3});
  write_selection(out, "attention", {1, 9, 11, 13});
  EXPECT_TRUE(plan.selection_jobs(start)[0].commands.empty());  // done: reused by a rerun
  EXPECT_EQ(plan.arm_layers("consecutive-first", 0), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(plan.arm_layers("uniform", 0), (std::vector<int64_t>{1, 5, 11, 15}));  // the paper's 25 % of 16
  EXPECT_EQ(plan.arm_layers("full", 0).size(), 16u);

  const auto jobs = plan.arm_jobs(start);
  ASSERT_EQ(jobs.size(), 5u);
  EXPECT_EQ(jobs[3].name, "block_influence-s0");
  EXPECT_EQ(jobs[3].same_as, "consecutive-first-s0");
  EXPECT_TRUE(jobs[3].commands.empty());
  for (size_t j : {0u, 1u, 2u, 4u}) {
    EXPECT_TRUE(jobs[j].same_as.empty()) << jobs[j].name;
    EXPECT_EQ(args_of(jobs[j], 0).rfind("train ", 0), 0u) << jobs[j].name;
  }
  // The scoring arm that trains reads its saved selection instead of scoring again.
  EXPECT_NE(args_of(jobs[4], 0).find("selection.scores_file=" + out + "/selection/s0/selection_attention.json"),
            std::string::npos)
      << args_of(jobs[4], 0);
  EXPECT_EQ(args_of(jobs[2], 0).find("scores_file"), std::string::npos);  // heuristics need none
}

}  // namespace
}  // namespace vr::study::study_plan_test
