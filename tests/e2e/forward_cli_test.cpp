// End-to-end: the real `vrtrain forward` binary on the llama_gqa fixture checkpoint.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <torch/torch.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/safetensors.h"

namespace e2e_forward_cli_test {

using vr::test::run_vrtrain;

TEST(ForwardCli, WritesLogitsHiddenStatesAndLossMatchingTheFixture) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  auto dir = vr::test::temp_dir("forward_cli");
  auto fx = vr::test::fixtures_dir() + "/llama_gqa";
  auto out_path = dir + "/out.safetensors";
  auto r = run_vrtrain("forward --model " + fx + " --inputs " + fx + "/inputs.safetensors --output " + out_path +
                           " --threads 1",
                       dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto got = vr::load_safetensors(out_path);
  auto expected = vr::load_safetensors(fx + "/expected.safetensors");
  // Public contract: exactly these names.
  std::vector<std::string> names;
  for (const auto& kv : got) names.push_back(kv.first);
  EXPECT_EQ(names, (std::vector<std::string>{"hidden_states.0", "hidden_states.1", "hidden_states.2",
                                             "hidden_states.3", "logits", "loss"}));
  for (const auto& name : names)  // model_fp32 class for tensors, loss class for the scalar
    EXPECT_TRUE(vr::test::all_close(got.at(name), expected.at(name), name == "loss" ? 0 : vr::test::kModelAtol,
                                    name == "loss" ? 1e-5 : vr::test::kModelRtol, name));

  // bf16 run: same names, logits near the fp32 reference (bf16 keeps ~3 significant digits).
  auto bf16_path = dir + "/bf16.safetensors";
  r = run_vrtrain("forward --model " + fx + " --inputs " + fx + "/inputs.safetensors --output " + bf16_path +
                      " --dtype bf16 --no-hidden-states",
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto bf16 = vr::load_safetensors(bf16_path);
  EXPECT_EQ(bf16.size(), 2u);  // logits, loss
  EXPECT_TRUE(vr::test::all_close(bf16.at("logits"), expected.at("logits"), 0.1, 0.02, "bf16 logits"));
}

TEST(ForwardCli, MissingInputTensorFailsWithOneLine) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  auto dir = vr::test::temp_dir("forward_cli_err");
  auto fx = vr::test::fixtures_dir() + "/llama_gqa";
  auto in_path = dir + "/no_ids.safetensors";
  vr::save_safetensors(in_path, {{"attention_mask", torch::ones({1, 3}, torch::kLong)}});
  auto r = run_vrtrain("forward --model " + fx + " --inputs " + in_path + " --output " + dir + "/o.safetensors", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("input_ids"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("attention_mask"), std::string::npos) << r.output;  // lists what the file has
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/o.safetensors"));

  r = run_vrtrain("forward --model " + dir + " --inputs " + in_path + " --output " + dir + "/o.safetensors", dir);
  EXPECT_NE(r.exit_code, 0);  // no config.json there
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
}

TEST(ForwardCli, HelpDescribesInputsAndOutputs) {
  auto dir = vr::test::temp_dir("forward_cli_help");
  auto r = run_vrtrain("forward --help", dir);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"--model", "--inputs", "--output", "input_ids", "attention_mask", "labels", "logits",
                           "hidden_states", "loss", "bf16"})
    EXPECT_NE(r.output.find(word), std::string::npos) << word;
}

}  // namespace e2e_forward_cli_test
