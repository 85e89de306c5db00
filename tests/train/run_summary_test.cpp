// run_summary.json round trip: what `vrtrain compare` and the study read back is what the trainer wrote, NaN
// per-layer scores included (JSON has no NaN: they are written as null).
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "vr/train/run_summary.h"

namespace vr::train::run_summary_test {
namespace {

TEST(RunSummary, RoundTripsNanScoresWrittenAsNull) {
  RunSummary s;
  s.strategy = "triplet";
  s.layers = {2, 6};
  s.num_layers = 4;
  s.selection_scores = {0.5, 0.25, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const nlohmann::json written = nlohmann::json::parse(s.to_json().dump());  // as run_summary.json holds it
  EXPECT_TRUE(written["selection_scores"][2].is_null());
  const RunSummary back = RunSummary::from_json(written);
  ASSERT_EQ(back.selection_scores.size(), 4u);
  EXPECT_EQ(back.selection_scores[0], 0.5);
  EXPECT_EQ(back.selection_scores[1], 0.25);
  EXPECT_TRUE(std::isnan(back.selection_scores[2]));
  EXPECT_TRUE(std::isnan(back.selection_scores[3]));
  EXPECT_EQ(back.layers, s.layers);
  EXPECT_EQ(back.strategy, "triplet");
}

}  // namespace
}  // namespace vr::train::run_summary_test
