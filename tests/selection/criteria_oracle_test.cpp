// The angular, triplet and layer_contribution scores against independent references (tests/selection/
// criteria_oracle.py): NumPy on the hidden states of shared/fixtures/layer_scores/llava_siglip, and transformers
// 4.44.2 with a forward hook for ShortV's layer contribution on the same fixture model and inputs. Skipped where
// the fixture or the Python oracle (scripts/oracle.sh) is missing.
// Tolerances: angular and triplet similarities read the same float32 tensors in float64 on both sides, so only
// summation order differs (measured ≤ 3.3e-16): 1e-12. Layer contribution runs two implementations of the model
// (vrtrain's logits are within ~3e-6 of HF's on this fixture, README): a KL of 0.02–0.25 moves by about
// |Δlogits| · |log p − log q| ≲ 1e-5, so the fixture's `score` class (atol 1e-5, rtol 1e-4); measured 0 on
// LibTorch 1.13 CPU (the forward is bit-identical to HF's there).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "support/python_oracle.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/data/batch.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"

namespace vr::selection::criteria_oracle_test {
namespace {

const std::string kFixture = "layer_scores/llava_siglip";

std::string fixture() { return vr::test::fixtures_dir() + "/" + kFixture; }
std::string oracle_script() { return std::string(VR_SOURCE_DIR) + "/tests/selection/criteria_oracle.py"; }

void expect_series(const std::vector<double>& got, const nlohmann::json& want, double atol, double rtol,
                   const std::string& name) {
  ASSERT_EQ(got.size(), want.size()) << name;
  double worst = 0;
  for (size_t l = 0; l < got.size(); ++l)
    if (!want[l].is_null()) worst = std::max(worst, std::abs(got[l] - want[l].get<double>()));
  std::cout << "[ measured ] " << name << ": max |vrtrain - oracle| = " << worst << "\n";
  for (size_t l = 0; l < got.size(); ++l) {
    if (want[l].is_null()) {
      EXPECT_TRUE(std::isnan(got[l])) << name << "[" << l << "] = " << got[l] << ", the oracle has none";
      continue;
    }
    const double w = want[l].get<double>();
    EXPECT_LE(std::abs(got[l] - w), atol + rtol * std::abs(w)) << name << "[" << l << "]: " << got[l] << " vs " << w;
  }
}

// One layer_scores fixture: its expected.safetensors (mask) and the file holding its hidden states.
void check_angular_and_triplet(const std::string& name, const std::string& hidden_file) {
  const std::string expected = vr::test::fixtures_dir() + "/layer_scores/" + name + "/expected.safetensors";
  const std::string dir = vr::test::temp_dir("criteria_angular");
  auto py = vr::test::run_oracle_python(oracle_script() + " angular " + expected + " " + dir + "/angular.json " +
                                        hidden_file, dir);
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const nlohmann::json want = vr::read_json_file(dir + "/angular.json");

  auto e = vr::load_safetensors(expected);
  auto h = vr::load_safetensors(hidden_file);
  std::vector<at::Tensor> hs;
  while (h.count("hidden_states." + std::to_string(hs.size()))) hs.push_back(h.at("hidden_states." + std::to_string(hs.size())));
  const at::Tensor valid = e.at("merged.attention_mask");
  for (int64_t n = 1; n <= static_cast<int64_t>(hs.size()) - 1 && n <= 3; ++n)
    expect_series(masked_layer_mean(angular_distances(hs, n), valid), want["angular" + std::to_string(n)], 1e-12, 0,
                  name + " angular n=" + std::to_string(n));
  TripletAccumulator acc(static_cast<int64_t>(hs.size()) - 1);
  acc.add(hs, valid);
  const TripletSimilarity s = acc.similarity();
  expect_series(s.s1, want["s1"], 1e-12, 0, name + " s1");
  expect_series(s.s2, want["s2"], 1e-12, 0, name + " s2");
  expect_series(s.s3, want["s3"], 1e-12, 0, name + " s3");
}

TEST(SelectionCriteriaOracle, AngularAndTripletSimilarityMatchNumPy) {
  VR_REQUIRE_FIXTURE(kFixture);
  VR_REQUIRE_ORACLE();
  check_angular_and_triplet("llava_siglip", fixture() + "/expected.safetensors");  // 5 layers
}

TEST(SelectionCriteriaOracle, AngularAndTripletSimilarityMatchNumPyClip) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_clip");
  VR_REQUIRE_FIXTURE("llava/expected_legacy.safetensors");
  VR_REQUIRE_ORACLE();
  // 3 layers: s3 exists nowhere (i + 3 <= 2 never holds), s2 only at 0.
  check_angular_and_triplet("llava_clip", vr::test::fixtures_dir() + "/llava/expected_legacy.safetensors");
}

TEST(SelectionCriteriaOracle, LayerContributionMatchesTransformers) {
  VR_REQUIRE_FIXTURE(kFixture);
  VR_REQUIRE_ORACLE();
  const std::string dir = vr::test::temp_dir("criteria_lc");
  auto py = vr::test::run_oracle_python(oracle_script() + " lc " + fixture() + " " + fixture() + "/inputs.safetensors " +
                                        fixture() + "/expected.safetensors " + dir + "/lc.json", dir);
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const nlohmann::json want = vr::read_json_file(dir + "/lc.json");

  auto model = vr::model::load_lvlm(fixture());
  auto in = vr::load_safetensors(fixture() + "/inputs.safetensors");
  bool given = false;
  SelectionContext ctx;
  ctx.num_layers = model->config().text.num_hidden_layers;
  ctx.model = &model;
  ctx.calibration_batches = [&]() -> std::optional<vr::data::Batch> {  // the fixture's one batch of 2 rows
    if (given) return std::nullopt;
    given = true;
    vr::data::Batch b;
    b.input_ids = in.at("input_ids");
    b.attention_mask = in.at("attention_mask");
    b.labels = in.at("labels");
    b.pixel_values = in.at("pixel_values");
    return b;
  };
  SelectionConfig cfg;
  cfg.strategy = "layer_contribution";
  cfg.count = 2;
  cfg.calibration_samples = 2;
  SelectionResult r = select_layers(cfg, ctx);
  expect_series(r.scores, want["layer_contribution"], 1e-5, 1e-4, "layer_contribution");
  EXPECT_EQ(r.layers, (std::vector<int64_t>{0, 1}));  // oracle: 0.242, 0.089, 0.044, 0.018, 0.025
}

}  // namespace
}  // namespace vr::selection::criteria_oracle_test
