// The strategy registry, result checks, top-k with spacing, saved-score reuse and the config keys.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/selection/selection.h"

namespace vr::selection::registry_test {
namespace {

using vr::test::error_of;

using V = std::vector<int64_t>;

TEST(SelectionRegistry, EveryStrategyRegistered) {
  auto names = strategy_names();
  for (const char* n : {"uniform", "consecutive", "manual", "random", "param_change"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& n : names) EXPECT_FALSE(strategy_summary(n).empty()) << n;
  EXPECT_TRUE(make_selector("param_change")->uses_scores());
  EXPECT_FALSE(make_selector("uniform")->uses_scores());
}

TEST(SelectionRegistry, UnknownNameSuggestsAndLists) {
  std::string msg = error_of([] { make_selector("unifrom"); });
  EXPECT_NE(msg.find("unknown selection strategy 'unifrom'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'uniform'?"), std::string::npos) << msg;
  EXPECT_NE(msg.find("available: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("consecutive"), std::string::npos) << msg;
}

// A strategy registered by this test file: the registry accepts new strategies from any translation unit, and
// select_layers rejects a broken result.
class Broken : public LayerSelector {
 public:
  SelectionResult select(const SelectionConfig& cfg, SelectionContext&) override {
    SelectionResult r;
    r.layers = cfg.layers;  // returned unchecked
    return r;
  }
};
SelectorRegistration broken_reg{"test_unchecked", "returns selection.layers as given", [] {
                                  return std::make_unique<Broken>();
                                }};

TEST(SelectionRegistry, ResultIsValidated) {
  SelectionConfig cfg;
  cfg.strategy = "test_unchecked";
  SelectionContext ctx;
  ctx.num_layers = 8;
  cfg.layers = {1, 3};
  EXPECT_EQ(select_layers(cfg, ctx).layers, (V{1, 3}));
  EXPECT_EQ(select_layers(cfg, ctx).strategy, "test_unchecked");
  cfg.layers = {3, 1};
  EXPECT_NE(error_of([&] { select_layers(cfg, ctx); }).find("unsorted"), std::string::npos);
  cfg.layers = {1, 8};
  EXPECT_NE(error_of([&] { select_layers(cfg, ctx); }).find("outside 0..7"), std::string::npos);
  cfg.layers = {};
  EXPECT_NE(error_of([&] { select_layers(cfg, ctx); }).find("no layer"), std::string::npos);
  ctx.num_layers = 0;
  EXPECT_THROW(select_layers(cfg, ctx), vr::Error);
}

TEST(SelectionTopK, HighestScoresWithTiesAndSpacing) {
  std::vector<double> s = {0.1, 0.9, 0.8, 0.2, 0.7, 0.7, 0.05, 0.3};
  EXPECT_EQ(top_k_layers(s, 3, 0), (V{1, 2, 4}));         // 0.9, 0.8, then the tie 0.7 → lower index 4
  EXPECT_EQ(top_k_layers(s, 4, 0), (V{1, 2, 4, 5}));
  EXPECT_EQ(top_k_layers(s, 3, 2), (V{1, 4, 7}));         // 2 too close to 1, 5 too close to 4
  EXPECT_EQ(top_k_layers(s, 3, 3), (V{1, 4, 7}));
  EXPECT_EQ(top_k_layers(s, 8, 1), (V{0, 1, 2, 3, 4, 5, 6, 7}));
  std::string msg = error_of([&] { top_k_layers(s, 3, 4); });  // 1, 5 then nothing 4 away from both
  EXPECT_NE(msg.find("min_spacing = 4"), std::string::npos) << msg;
  EXPECT_THROW(top_k_layers(s, 0, 0), vr::Error);
  EXPECT_THROW(top_k_layers(s, 9, 0), vr::Error);
  EXPECT_THROW(top_k_layers({0.1, NAN}, 1, 0), vr::Error);
}

TEST(SelectionResultJson, RoundTripAndSavedScores) {
  SelectionResult r;
  r.strategy = "param_change";
  r.num_layers = 4;
  r.layers = {0, 2};
  r.scores = {0.5, 0.1, 0.4, 0.2};
  r.rationale = "because";
  nlohmann::json j = r.to_json();
  SelectionResult back = SelectionResult::from_json(j, "mem");
  EXPECT_EQ(back.layers, r.layers);
  EXPECT_EQ(back.scores, r.scores);
  EXPECT_EQ(back.num_layers, 4);
  EXPECT_EQ(back.rationale, "because");

  std::string dir = vr::test::temp_dir("sel_json");
  std::string file = dir + "/selection.json";
  std::ofstream(file) << j.dump(2);
  EXPECT_EQ(load_saved_scores(file, "param_change", 4), r.scores);
  EXPECT_EQ(load_saved_scores(file, "param_change", 0), r.scores);
  EXPECT_NE(error_of([&] { load_saved_scores(file, "attention", 4); }).find("holds 'param_change' scores"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_saved_scores(file, "param_change", 32); }).find("the model has 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_saved_scores(dir + "/none.json", "param_change", 4); }).find("cannot open"),
            std::string::npos);
  std::ofstream(dir + "/bad.json") << "{\"strategy\": ";
  EXPECT_NE(error_of([&] { load_saved_scores(dir + "/bad.json", "param_change", 4); }).find("invalid JSON"),
            std::string::npos);

  // An importance strategy with scores_file uses the saved scores and never touches its checkpoints.
  SelectionConfig cfg;
  cfg.strategy = "param_change";
  cfg.count = 2;
  cfg.scores_file = file;
  SelectionContext ctx;
  ctx.num_layers = 4;
  SelectionResult got = select_layers(cfg, ctx);
  EXPECT_EQ(got.layers, (V{0, 2}));
  EXPECT_EQ(got.scores, r.scores);
  EXPECT_NE(got.rationale.find(file), std::string::npos) << got.rationale;
}

TEST(SelectionResultJson, NanScoreIsNull) {
  SelectionResult r;
  r.scores = {1.0, NAN};
  nlohmann::json j = r.to_json();
  EXPECT_TRUE(j["scores"][1].is_null());
  EXPECT_TRUE(std::isnan(SelectionResult::from_json(j, "mem").scores[1]));
}

TEST(SelectionConfigKeys, BindListsEveryKey) {
  SelectionConfig cfg;
  const std::vector<std::string> keys = vr::test::bound_keys(cfg);  // the public contract of configs and `--set`
  for (const char* k : {"selection.strategy", "selection.fraction", "selection.count", "selection.layers",
                        "selection.position", "selection.seed", "selection.min_spacing", "selection.scores_file",
                        "selection.base_model", "selection.tuned_model", "selection.metric",
                        "selection.calibration_samples"})
    EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
}

}  // namespace
}  // namespace vr::selection::registry_test
