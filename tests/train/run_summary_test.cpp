// run_summary.json (vr/train/run_summary.h): what `vrtrain train` writes is what `vrtrain compare` reads, under the
// same keys; missing keys keep the defaults.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "vr/train/run_summary.h"

namespace train_run_summary_test {

namespace {

TEST(RunSummary, RoundTripsUnderItsKeys) {
  // run_summary.json as `vrtrain train` writes it: every key, none more.
  const nlohmann::json j = nlohmann::json::parse(R"({
    "strategy": "consecutive-first", "stage": "sft", "method": "lora", "layers": [0, 1], "num_layers": 8,
    "selection_scores": [0.5, 0.25], "selection_rationale": "first two", "trainable_params": 10,
    "total_params": 100, "steps": 3, "seconds": 1.5, "tokens": 300, "images": 6, "first_loss": 2.5,
    "last_loss": 2.0, "samples": 12, "peak_rss_bytes": 1048576, "seed": 7})");
  const vr::train::RunSummary s = vr::train::RunSummary::from_json(j);
  EXPECT_EQ(s.strategy, "consecutive-first");
  EXPECT_EQ(s.layers, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(s.selection_scores, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(s.total_params, 100);
  EXPECT_DOUBLE_EQ(s.seconds, 1.5);
  EXPECT_EQ(s.peak_rss_bytes, 1048576);
  EXPECT_EQ(s.seed, 7);
  EXPECT_EQ(s.to_json(), j);
}

TEST(RunSummary, MissingKeysKeepDefaults) {
  const auto s = vr::train::RunSummary::from_json(nlohmann::json{{"stage", "full"}});
  EXPECT_EQ(s.stage, "full");
  EXPECT_EQ(s.strategy, "");
  EXPECT_EQ(s.trainable_params, -1);
  EXPECT_EQ(s.samples, -1);
  EXPECT_EQ(s.seed, -1);
  EXPECT_EQ(s.steps, 0);
  EXPECT_TRUE(s.layers.empty());
  // A NaN is written as null: read back as the default.
  EXPECT_EQ(vr::train::RunSummary::from_json(nlohmann::json{{"first_loss", nullptr}}).first_loss, 0.0);
}

// Per-layer scores are a list whose NaNs (triplet has none for the last layers) are written as null: read back as
// NaN in place, not a type error (the study reads every arm's summary).
TEST(RunSummary, RoundTripsNanScoresWrittenAsNull) {
  vr::train::RunSummary s;
  s.strategy = "triplet";
  s.layers = {2, 6};
  s.num_layers = 4;
  s.selection_scores = {0.5, 0.25, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const nlohmann::json written = nlohmann::json::parse(s.to_json().dump());  // as run_summary.json holds it
  EXPECT_TRUE(written["selection_scores"][2].is_null());
  const vr::train::RunSummary back = vr::train::RunSummary::from_json(written);
  ASSERT_EQ(back.selection_scores.size(), 4u);
  EXPECT_EQ(back.selection_scores[0], 0.5);
  EXPECT_EQ(back.selection_scores[1], 0.25);
  EXPECT_TRUE(std::isnan(back.selection_scores[2]));
  EXPECT_TRUE(std::isnan(back.selection_scores[3]));
  EXPECT_EQ(back.layers, s.layers);
  EXPECT_EQ(back.strategy, "triplet");
}

}  // namespace

}  // namespace train_run_summary_test
