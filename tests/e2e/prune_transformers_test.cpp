// What `vrtrain prune` and `vrtrain train` (final/) write loads in Hugging Face transformers (from_pretrained with no
// missing, unexpected or mismatched keys) and computes there what vrtrain computes: logits of `vrtrain forward` in
// the model_fp32 class (atol 1e-4, rtol 1e-4; same CPU kernels, ~1e-6 expected), greedy ids of `vrtrain generate`
// identical. Runs transformers through the Python oracle (tests/e2e/hf_load_compare.py); skipped where absent.
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "support/python_oracle.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"

namespace {

namespace fs = std::filesystem;
using vr::test::run_vrtrain;

TEST(PruneTransformers, PrunedAndTrainedCheckpointsLoadInTransformersWithTheSameOutputs) {
  VR_REQUIRE_ORACLE();
  VR_REQUIRE_FIXTURE("llama_gqa");
  const std::string dir = vr::test::temp_dir("prune_hf");
  const std::string src = VR_SOURCE_DIR;

  // A selective run of the tiny model (2 steps: the weights only need to be what train writes), then the paper's
  // pruning of its final/: 2 layers outside the run's visual region, by block influence on 4 calibration samples.
  auto r = run_vrtrain(fmt::format("train --config {}/configs/tiny_synthetic.yaml --set model.path={}/model "
                                   "--set output_dir={}/run --set train.max_steps=2 --set train.save_every=0 "
                                   "--set train.num_threads=2 --set data.num_workers=1",
                                   src, dir, dir),
                       dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_vrtrain(fmt::format("prune --model {0}/run/final --output {0}/pruned --remove 2 --method region --region "
                              "{0}/run --config {1}/configs/tiny_synthetic.yaml --set selection.calibration_samples=4",
                              dir, src),
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto pj = vr::read_json_file(dir + "/pruned/pruning.json");
  EXPECT_EQ(pj["method"], "region");
  EXPECT_EQ(pj["num_layers_after"], 6);
  for (const auto& l : pj["removed_layers"])  // never a layer the run trained
    for (const auto& k : pj["region"]) EXPECT_NE(l, k);
  // A bare Llama too.
  r = run_vrtrain(fmt::format("prune --model {} --output {}/llama --remove-layers 1",
                              vr::test::fixtures_dir() + "/llama_gqa", dir),
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Inputs: one prompt with one image placeholder for the LVLMs, a left-padded pair for the Llama.
  const int64_t image_id = vr::read_json_file(dir + "/run/final/config.json")["image_token_index"].get<int64_t>();
  torch::manual_seed(3);
  vr::save_safetensors(dir + "/lvlm_in.safetensors",
                       {{"input_ids", torch::tensor(std::vector<int64_t>{1, 40, 41, image_id, 42, 43, 44}, torch::kLong).view({1, -1})},
                        {"attention_mask", torch::ones({1, 7}, torch::kLong)},
                        {"pixel_values", torch::randn({1, 3, 56, 56})}});
  vr::save_safetensors(dir + "/llama_in.safetensors",
                       {{"input_ids", torch::tensor({{0, 0, 1, 17, 18}, {1, 20, 21, 22, 23}}, torch::kLong)},
                        {"attention_mask", torch::tensor({{0, 0, 1, 1, 1}, {1, 1, 1, 1, 1}}, torch::kLong)}});

  const std::vector<std::pair<std::string, std::string>> cases{
      {dir + "/run/final", dir + "/lvlm_in.safetensors"},
      {dir + "/pruned", dir + "/lvlm_in.safetensors"},
      {dir + "/llama", dir + "/llama_in.safetensors"}};
  std::string args = "5";
  for (size_t i = 0; i < cases.size(); ++i)
    args += fmt::format(" {} {} {}/hf{}.safetensors", cases[i].first, cases[i].second, dir, i);
  auto py = vr::test::run_oracle_python(src + "/tests/e2e/hf_load_compare.py " + args, dir);
  ASSERT_EQ(py.exit_code, 0) << py.output;

  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [model, inputs] = cases[i];
    const auto hf = vr::load_safetensors(fmt::format("{}/hf{}.safetensors", dir, i));
    r = run_vrtrain(fmt::format("forward --model {} --inputs {} --output {}/vr{}.safetensors --threads 1 "
                                "--no-hidden-states",
                                model, inputs, dir, i),
                    dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto logits = vr::load_safetensors(fmt::format("{}/vr{}.safetensors", dir, i)).at("logits");
    EXPECT_TRUE(vr::test::all_close(logits, hf.at("logits"), vr::test::kModelAtol, vr::test::kModelRtol,
                                    model + " logits"));
    r = run_vrtrain(fmt::format("generate --model {} --inputs {} --output {}/gen{}.safetensors --threads 1 "
                                "--max-new-tokens 5",
                                model, inputs, dir, i),
                    dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto seq = vr::load_safetensors(fmt::format("{}/gen{}.safetensors", dir, i)).at("sequences");
    EXPECT_TRUE(torch::equal(seq, hf.at("sequences"))) << model << "\nvrtrain " << seq << "\nHF " << hf.at("sequences");
  }
}

}  // namespace
