// Which layers each pruning method removes, and the errors for impossible requests.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/prune/layer_choice.h"

namespace prune_layer_choice_test {

using namespace vr::prune;
using V = std::vector<int64_t>;

namespace {

ChoiceInputs inputs(int64_t L, int64_t N) {
  ChoiceInputs in;
  in.num_layers = L;
  in.remove = N;
  return in;
}

}  // namespace

TEST(PruneChoice, BlockInfluenceRemovesTheLowestScoresWithTiesToTheLowerIndex) {
  auto in = inputs(6, 2);
  in.scores = {0.5, 0.1, 0.3, 0.1, 0.9, 0.2};
  auto c = choose_layers(Method::kBlockInfluence, in);
  EXPECT_EQ(c.removed, (V{1, 3}));
  EXPECT_EQ(c.kept, (V{0, 2, 4, 5}));
  in.remove = 3;
  EXPECT_EQ(choose_layers(Method::kBlockInfluence, in).removed, (V{1, 3, 5}));
}

TEST(PruneChoice, RegionKeepsTheRegionAndRemovesTheLowestOutsideIt) {
  auto in = inputs(8, 2);
  in.scores = {0.9, 0.05, 0.3, 0.01, 0.4, 0.02, 0.6, 0.7};
  in.region = {1, 5};  // the two lowest-scored layers are in the region: they stay
  auto c = choose_layers(Method::kRegion, in);
  EXPECT_EQ(c.removed, (V{2, 3}));
  EXPECT_EQ(c.region, (V{1, 5}));
  // bi on the same scores would remove the region's layers.
  EXPECT_EQ(choose_layers(Method::kBlockInfluence, in).removed, (V{3, 5}));
  auto j = c.to_json();
  EXPECT_EQ(j["removed_layers"], nlohmann::json::array({2, 3}));
  EXPECT_EQ(j["num_layers_after"], 6);
  EXPECT_EQ(j["region"], nlohmann::json::array({1, 5}));
}

TEST(PruneChoice, LastAndSeededRandom) {
  EXPECT_EQ(choose_layers(Method::kLast, inputs(5, 2)).removed, (V{3, 4}));
  auto in = inputs(10, 3);
  in.seed = 11;
  auto a = choose_layers(Method::kRandom, in), b = choose_layers(Method::kRandom, in);
  EXPECT_EQ(a.removed, b.removed);
  EXPECT_EQ(a.removed.size(), 3u);
  EXPECT_TRUE(std::is_sorted(a.removed.begin(), a.removed.end()));
  bool differs = false;
  for (uint64_t s = 0; s < 8 && !differs; ++s) {
    in.seed = s;
    differs = choose_layers(Method::kRandom, in).removed != a.removed;
  }
  EXPECT_TRUE(differs) << "the seed changes the draw";
}

TEST(PruneChoice, BadRequestsAreClearErrors) {
  auto expect_error = [](auto fn, const std::string& part) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
    } catch (const vr::Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([] { choose_explicit({0, 1, 2}, 3); }, "at least one must stay");
  expect_error([] { choose_explicit({3}, 3); }, "out of range");
  expect_error([] { choose_explicit({1, 1}, 3); }, "listed twice");
  expect_error([] { choose_layers(Method::kLast, inputs(3, 3)); }, "at least one layer must stay");
  expect_error([] { choose_layers(Method::kLast, inputs(3, 0)); }, "at least 1");
  auto in = inputs(4, 1);
  in.scores = {1, 2, 3, 4};
  in.region = {0, 1, 2, 3};
  expect_error([&] { choose_layers(Method::kRegion, in); }, "covers all 4");
  in.region = {0, 1, 2};
  in.remove = 2;
  expect_error([&] { choose_layers(Method::kRegion, in); }, "only 1 of 4");
  in.region = {0, 7};
  expect_error([&] { choose_layers(Method::kRegion, in); }, "out of range");
  in.region = {0};
  in.scores = {1, 2};
  expect_error([&] { choose_layers(Method::kBlockInfluence, in); }, "needs 4 per-layer scores");
  in.scores = {1, NAN, 2, 3};
  expect_error([&] { choose_layers(Method::kBlockInfluence, in); }, "not a number");
  expect_error([] { parse_method("middle"); }, "region, bi, last, random");
}

TEST(PruneChoice, LayerLists) {
  EXPECT_EQ(parse_layer_list("1,3, 5", "x"), (V{1, 3, 5}));
  EXPECT_EQ(parse_layer_list("[0,4]", "x"), (V{0, 4}));
  EXPECT_THROW(parse_layer_list("1,,2", "x"), vr::Error);
  EXPECT_THROW(parse_layer_list("-1", "x"), vr::Error);
  EXPECT_THROW(parse_layer_list("a", "x"), vr::Error);
  EXPECT_THROW(parse_layer_list("", "x"), vr::Error);
}

// Gromov et al.: one block of N with the lowest d(h_l, h_l+N) among the blocks that avoid the region; ties: lower l.
TEST(PruneChoice, AngularRemovesTheClosestBlockOutsideTheRegion) {
  auto in = inputs(8, 3);
  in.scores_block = 3;
  // d(h_l, h_l+3) for l = 0..5 (blocks), then the cut blocks of l = 6, 7 (never candidates).
  in.scores = {0.40, 0.30, 0.10, 0.20, 0.10, 0.35, 0.01, 0.01};
  auto c = choose_layers(Method::kAngular, in);
  EXPECT_EQ(c.removed, (V{2, 3, 4}));  // l = 2 and 4 tie at 0.10: the lower wins; 6, 7 are no full blocks
  EXPECT_EQ(c.kept, (V{0, 1, 5, 6, 7}));
  EXPECT_EQ(c.block, 3);
  in.region = {3};  // blocks through layer 3 (l = 1, 2, 3) are out: l = 4 (0.10)
  c = choose_layers(Method::kAngular, in);
  EXPECT_EQ(c.removed, (V{4, 5, 6}));
  auto j = c.to_json();
  EXPECT_EQ(j["angular_block"], 3);
  EXPECT_EQ(j["index_base"], 0);
  EXPECT_EQ(j["kept_new_index"], (nlohmann::json{{"0", 0}, {"1", 1}, {"2", 2}, {"3", 3}, {"7", 4}}));
  in.region = {2, 5};  // every block of 3 meets 2 or 5
  EXPECT_THROW(choose_layers(Method::kAngular, in), vr::Error);
  in.region = {};
  in.scores_block = 1;  // per-layer distances cannot rank blocks of 3
  EXPECT_THROW(choose_layers(Method::kAngular, in), vr::Error);
  // Single layers: the N lowest per-layer distances outside the region.
  in.angular_single = true;
  in.region = {2};
  c = choose_layers(Method::kAngular, in);
  EXPECT_EQ(c.removed, (V{4, 6, 7}));
  EXPECT_EQ(c.block, 1);
}

TEST(PruneChoice, TripletDropsInterlacesLayersAndRecordsTuneAndAnchor) {
  auto in = inputs(6, 1);
  const double nan = NAN;
  in.triplet.s1 = {0.5, 0.9, 0.6, 0.7, 0.8, nan};
  in.triplet.s2 = {0.4, 0.5, 0.6, 0.7, nan, nan};
  in.triplet.s3 = {0.3, 0.2, 0.6, nan, nan, nan};
  // Triplet 2 (s3 0.6): s1(2) = 0.6 < s1(3) = 0.7 → drop 3, tune 2, anchor 4.
  auto c = choose_layers(Method::kTriplet, in);
  EXPECT_EQ(c.removed, (V{3}));
  EXPECT_EQ(c.layer_sets.at("tune"), (V{2}));
  EXPECT_EQ(c.layer_sets.at("anchor"), (V{4}));
  auto j = c.to_json();
  EXPECT_EQ(j["tune_layers_new_index"], nlohmann::json::array({2}));
  EXPECT_EQ(j["anchor_layers_new_index"], nlohmann::json::array({3}));
  EXPECT_EQ(parse_method("triplet"), Method::kTriplet);
  EXPECT_EQ(parse_method("angular"), Method::kAngular);
}

}  // namespace prune_layer_choice_test
