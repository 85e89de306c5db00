// End-to-end: `vrtrain prune` on the pruning fixtures (tensors bit-identical, config.json byte-identical to what HF
// saves), the --remove N methods with saved scores, and clear errors (exit 1) for impossible requests.
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"

namespace e2e_prune_cli_test {

namespace {

namespace fs = std::filesystem;
using vr::test::run_vrtrain;

std::string fx(const std::string& rel) { return vr::test::fixtures_dir() + "/" + rel; }

bool same_tensors(const std::string& a, const std::string& b) {
  auto x = vr::load_safetensors(a), y = vr::load_safetensors(b);
  if (x.size() != y.size()) return false;
  for (const auto& [n, t] : y)
    if (!x.count(n) || !torch::equal(x.at(n), t)) return false;
  return true;
}

// `vrtrain prune ... --dry-run <flags>` (through `run`) succeeds and reports removing `layers`, e.g. "[1,3]".
void expect_dry_run_removes(const std::function<vr::test::CliResult(const std::string&)>& run, const std::string& flags,
                            const std::string& layers) {
  const vr::test::CliResult r = run(flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("remove " + layers), std::string::npos) << r.output;
}

TEST(PruneCli, RemoveLayersGivesTheFixtureCheckpoints) {
  VR_REQUIRE_FIXTURE("pruning/llava_siglip");
  const std::string dir = vr::test::temp_dir("prune_cli");
  struct Case {
    const char* src;
    const char* layers;
    const char* fixture;
  };
  for (const Case& c : {Case{"llama_gqa", "1", "pruning/llama_gqa"},
                        Case{"layer_scores/llava_siglip", "1,3", "pruning/llava_siglip"}}) {
    const std::string out = dir + "/" + fs::path(c.fixture).filename().string();
    auto r = run_vrtrain("prune --model " + fx(c.src) + " --output " + out + " --remove-layers " + c.layers, dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("parameters:"), std::string::npos) << r.output;
    EXPECT_TRUE(same_tensors(out + "/model.safetensors", fx(std::string(c.fixture) + "/model.safetensors"))) << c.src;
    EXPECT_EQ(vr::read_file(out + "/config.json"), vr::read_file(fx(std::string(c.fixture) + "/config.json")));
    EXPECT_EQ(vr::read_file(out + "/generation_config.json"), vr::read_file(fx(std::string(c.src) + "/generation_config.json")));
    auto pj = vr::read_json_file(out + "/pruning.json");
    EXPECT_EQ(pj["kept_layers"], vr::read_json_file(fx(std::string(c.fixture) + "/fixture.json"))["kept_layers"]);
  }
  // Pruning again replaces the output atomically.
  auto r = run_vrtrain("prune --model " + fx("llama_gqa") + " --output " + dir + "/llama_gqa --remove-layers 0,2", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(vr::read_json_file(dir + "/llama_gqa/config.json")["num_hidden_layers"], 1);
}

TEST(PruneCli, MethodsWithSavedScoresAndARegion) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  const std::string dir = vr::test::temp_dir("prune_methods");
  const std::string model = fx("layer_scores/llava_siglip");
  // Scores as `vrtrain score` writes them: layers 1 and 3 are the least influential.
  nlohmann::json scores{{"strategy", "block_influence"}, {"num_layers", 5}, {"layers", {0, 2}},
                        {"rationale", "test"}, {"scores", {0.5, 0.01, 0.4, 0.02, 0.3}}};
  vr::atomic_write_file(dir + "/scores.json", scores.dump());
  auto run = [&](const std::string& extra) {
    return run_vrtrain("prune --model " + model + " --output " + dir + "/out --dry-run " + extra, dir);
  };
  expect_dry_run_removes(run, "--remove 2 --method bi --scores " + dir + "/scores.json", "[1,3]");
  expect_dry_run_removes(run, "--remove 2 --method region --region 1,2 --scores " + dir + "/scores.json", "[3,4]");
  expect_dry_run_removes(run, "--remove 2 --method last", "[3,4]");
  // A selection file as the region (its "layers").
  expect_dry_run_removes(run, "--remove 1 --method region --region " + dir + "/scores.json --scores " + dir + "/scores.json", "[1]");

  // Written for real: pruning.json records scores and region.
  auto r = run_vrtrain("prune --model " + model + " --output " + dir + "/region --remove 2 --method region --region 1,2 "
                  "--scores " + dir + "/scores.json",
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto pj = vr::read_json_file(dir + "/region/pruning.json");
  EXPECT_EQ(pj["method"], "region");
  EXPECT_EQ(pj["removed_layers"], nlohmann::json::array({3, 4}));
  EXPECT_EQ(pj["region"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(pj["scores"].size(), 5u);
  EXPECT_EQ(pj["kept_new_index"], (nlohmann::json{{"0", 0}, {"1", 1}, {"2", 2}}));
  EXPECT_LT(pj["parameters_after"].get<int64_t>(), pj["parameters_before"].get<int64_t>());
}

// angular (Gromov et al.) and triplet (INTERLACE) with scores as `vrtrain score` writes them; pruning.json maps
// every kept layer to its new index.
TEST(PruneCli, AngularAndTripletWithSavedScores) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  const std::string dir = vr::test::temp_dir("prune_angular");
  const std::string model = fx("layer_scores/llava_siglip");
  const std::vector<double> d = {0.3, 0.1, 0.05, 0.2, 0.4};  // d(h_l, h_l+n), l = 0..4
  for (int n : {1, 2})
    vr::atomic_write_file(dir + "/angular" + std::to_string(n) + ".json",
                          nlohmann::json{{"strategy", "angular"}, {"num_layers", 5}, {"layers", {0}}, {"scores", d},
                                         {"angular_block", n}}.dump());
  auto run = [&](const std::string& extra) {
    return run_vrtrain("prune --model " + model + " --output " + dir + "/out --dry-run " + extra, dir);
  };
  // Block of 2, anywhere: blocks start at 0..3, the lowest d is at 2 → layers 2, 3.
  expect_dry_run_removes(run, "--remove 2 --method angular --region none --scores " + dir + "/angular2.json", "[2,3]");
  // Region {1, 2}: the only block of 2 that avoids it starts at 3.
  expect_dry_run_removes(run, "--remove 2 --method angular --region 1,2 --scores " + dir + "/angular2.json", "[3,4]");
  // Single layers: the two lowest per-layer distances.
  expect_dry_run_removes(run, "--remove 2 --method angular --angular-layers --region none --scores " + dir + "/angular1.json", "[1,2]");
  // Block scores of the wrong size are refused; so is a region that leaves no block.
  auto r = run("--remove 2 --method angular --region none --scores " + dir + "/angular1.json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("selection.angular_block=2"), std::string::npos) << r.output;
  r = run("--remove 3 --method angular --region 2 --scores " + dir + "/angular2.json");
  EXPECT_EQ(r.exit_code, 1);

  // triplet: s3 puts triplet (1, 2, 3) first; s1(1) = 0.7 < s1(2) = 0.8, so 2 is dropped, 1 tuned, 3 the anchor.
  nlohmann::json null;
  nlohmann::json triplet{{"strategy", "triplet"}, {"num_layers", 5}, {"layers", {1}}, {"scores", {0.6, 0.5, null, null, null}},
                         {"series", {{"s1", {0.6, 0.7, 0.8, 0.9, null}}, {"s2", {0.5, 0.6, 0.7, null, null}},
                                     {"s3", {0.4, 0.5, null, null, null}}}}};
  vr::atomic_write_file(dir + "/triplet.json", triplet.dump());
  r = run_vrtrain("prune --model " + model + " --output " + dir + "/triplet --remove 1 --method triplet --scores " +
                  dir + "/triplet.json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto pj = vr::read_json_file(dir + "/triplet/pruning.json");
  EXPECT_EQ(pj["method"], "triplet");
  EXPECT_EQ(pj["removed_layers"], nlohmann::json::array({2}));
  EXPECT_EQ(pj["kept_layers"], nlohmann::json::array({0, 1, 3, 4}));
  EXPECT_EQ(pj["index_base"], 0);
  EXPECT_EQ(pj["kept_new_index"], (nlohmann::json{{"0", 0}, {"1", 1}, {"3", 2}, {"4", 3}}));
  EXPECT_EQ(pj["tune_layers"], nlohmann::json::array({1}));
  EXPECT_EQ(pj["tune_layers_new_index"], nlohmann::json::array({1}));
  EXPECT_EQ(pj["anchor_layers"], nlohmann::json::array({3}));
  EXPECT_EQ(pj["anchor_layers_new_index"], nlohmann::json::array({2}));
  EXPECT_EQ(vr::read_json_file(dir + "/triplet/config.json")["text_config"]["num_hidden_layers"], 4);
}

TEST(PruneCli, ImpossibleRequestsAreClearErrors) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  const std::string dir = vr::test::temp_dir("prune_errors");
  auto expect_error = [&](const std::string& extra, const std::string& part, int code = 1) {
    auto r = run_vrtrain("prune --model " + fx("llama_gqa") + " --output " + dir + "/out " + extra, dir);
    EXPECT_EQ(r.exit_code, code) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find(part), std::string::npos) << extra << "\n" << r.output;
  };
  expect_error("--remove-layers 0,1,2", "at least one must stay");
  expect_error("--remove-layers 3", "out of range");
  expect_error("--remove 3 --method last", "remove between 1 and 2");
  vr::atomic_write_file(dir + "/s.json", R"({"strategy": "block_influence", "num_layers": 3, "layers": [0],
                                             "scores": [0.1, 0.2, 0.3]})");
  expect_error("--remove 1 --method region --region 0,1,2 --scores " + dir + "/s.json", "covers all 3");
  expect_error("--remove 1 --method bi", "bare Llama");
  expect_error("--remove 1 --method bi --scores " + fx("llama_gqa/config.json"), "not a layer-selection file");
  expect_error("--remove 1 --method middle", "middle", 2);
  expect_error("--remove-layers 1 --remove 1", "excludes", 2);
  EXPECT_FALSE(fs::exists(dir + "/out"));
}

}  // namespace

}  // namespace e2e_prune_cli_test
