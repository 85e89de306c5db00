// Every vrtrain subcommand reads its flags through the shared reader (tools/vrtrain/arguments.h): the same
// --help layout, the same error line and exit code 2 for a bad flag; and the reader's rules (integer flags,
// --KEY=VALUE shorthands, a layer list means selection.strategy=manual).
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/model/lvlm_flops.h"
#include "vr/model/tiny_model.h"

namespace e2e_commands_cli_test {

using vr::test::run_vrtrain;

namespace {

// The commands `vrtrain --help` lists ("  <name>  <summary>" lines after "Commands:").
std::vector<std::string> registered_commands(const std::string& dir) {
  vr::test::CliResult r = run_vrtrain("--help", dir);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> names;
  std::istringstream in(r.output);
  bool listing = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "Commands:") {
      listing = true;
    } else if (listing) {
      if (line.rfind("  ", 0) != 0) break;
      std::istringstream words(line);
      std::string name;
      words >> name;
      names.push_back(name);
    }
  }
  return names;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(CommandsCli, EveryCommandHasTheCommonHelpAndErrorLine) {
  const std::string dir = vr::test::temp_dir("commands_cli");
  const std::vector<std::string> names = registered_commands(dir);
  const std::set<std::string> listed(names.begin(), names.end());
  for (const char* expected : {"train", "bench", "convert", "data-check", "eval", "forward", "launch", "make-tiny",
                               "preprocess", "score", "tokenize"})
    EXPECT_TRUE(listed.count(expected)) << expected << " is not listed by vrtrain --help";
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    vr::test::CliResult help = run_vrtrain(name + " --help < /dev/null", dir);
    EXPECT_EQ(help.exit_code, 0) << help.output;
    // description first, then the usage line(s), then the option table with -h,--help.
    EXPECT_EQ(help.output.rfind("vrtrain " + name + ":", 0), 0u) << help.output;
    const size_t usage = help.output.find("\nUsage: vrtrain " + name);
    const size_t options = help.output.find("\nOptions:\n  -h,--help");
    EXPECT_NE(usage, std::string::npos) << help.output;
    EXPECT_NE(options, std::string::npos) << help.output;
    EXPECT_LT(usage, options) << help.output;

    vr::test::CliResult bad = run_vrtrain(name + " --no-such-flag < /dev/null", dir);
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_TRUE(contains(bad.output, fmt::format("vrtrain {}: error: ", name))) << bad.output;
    EXPECT_TRUE(contains(bad.output, "--no-such-flag")) << bad.output;
    EXPECT_TRUE(contains(bad.output, fmt::format("(see `vrtrain {} --help`)", name))) << bad.output;
  }
}

TEST(CommandsCli, UsageErrorsExitWithCode2AndNameTheFlag) {
  const std::string dir = vr::test::temp_dir("commands_cli_usage");
  vr::test::CliResult r = run_vrtrain("make-tiny --output " + dir + "/m --layers 8x", dir);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "vrtrain make-tiny: error: --layers needs an integer, got '8x'")) << r.output;
  r = run_vrtrain("make-tiny --family llava", dir);  // missing required flag
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--output is required")) << r.output;
  r = run_vrtrain("train --set train.max_steps=1", dir);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "vrtrain train: error: --config is required")) << r.output;
  r = run_vrtrain("launch --nproc-per-node 2", dir);  // no rank command after --
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "no command after --")) << r.output;
  r = run_vrtrain("bench --steps 1", dir);  // no model
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--model DIR is required")) << r.output;
  // Runtime errors (bad config values) stay exit code 1; --KEY=VALUE is --set KEY=VALUE, `vrtrain --config F`
  // is `vrtrain train --config F`.
  const std::string cfg = std::string(VR_SOURCE_DIR) + "/configs/tiny_synthetic.yaml";
  r = run_vrtrain("train --config " + cfg + " --train.lr=-1 --dry-run", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "train.lr must be a positive number")) << r.output;
  r = run_vrtrain("--config " + cfg + " --set train.lr=-1 --dry-run", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "vrtrain train: error: train.lr must be a positive number")) << r.output;
}

// `vrtrain bench --selection.layers 1,5` used to time the default uniform selection: a layer list means manual,
// on the flag, with --set, and a list with another strategy is an error instead of being ignored.
// A folder with a 4-layer tiny model in tiny/, and the start of a one-step `vrtrain bench` command line on it.
std::string tiny_bench(const std::string& dir, int batch) {
  vr::model::TinyModelOptions o;
  o.num_layers = 4;
  vr::model::make_tiny_model(dir + "/tiny", o);
  return fmt::format("bench --model {}/tiny --batch {} --text-tokens 8 --steps 1 --warmup 0 --threads 1", dir, batch);
}

TEST(CommandsCli, BenchLayerListSelectsManual) {
  const std::string dir = vr::test::temp_dir("commands_cli_bench");
  const std::string run = tiny_bench(dir, 1);
  vr::test::CliResult r = run_vrtrain(run + " --selection.layers 1,3", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "sft manual [1,3]")) << r.output;
  r = run_vrtrain(run + " --set selection.layers=0,2", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "sft manual [0,2]")) << r.output;
  r = run_vrtrain(run + " --selection.strategy uniform --selection.layers 1,3", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "selection.layers [1, 3]")) << r.output;
  EXPECT_TRUE(contains(r.output, "'uniform'")) << r.output;
}

// `vrtrain bench` reports the model FLOPs the trainer's MFU divides by (vr/model/lvlm_flops.h) for the shapes it
// times: B samples of text + images x (F - 1) merged tokens, layers 1 and 3 and the projector trained.
TEST(CommandsCli, BenchModelFlopsAreTheTrainersCount) {
  const std::string dir = vr::test::temp_dir("commands_cli_bench_flops");
  const vr::test::CliResult r = run_vrtrain(tiny_bench(dir, 2) + " --selection.layers 1,3", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string key = "(model FLOPs ";
  const auto at = r.output.find(key);
  ASSERT_NE(at, std::string::npos) << r.output;
  const double printed = std::stod(r.output.substr(at + key.size()));

  vr::model::Lvlm m = vr::model::load_lvlm(dir + "/tiny");
  for (auto& kv : m->named_parameters()) {
    const std::string& n = kv.key();
    const bool trained = n.find("multi_modal_projector.") != std::string::npos ||
                         n.find("layers.1.") != std::string::npos || n.find("layers.3.") != std::string::npos;
    kv.value().set_requires_grad(trained && n.find("vision_tower") == std::string::npos);
  }
  const int64_t F = m->config().image_seq_length(), merged = 8 + (F - 1);
  const double expected = vr::model::lvlm_step_model_flops(*m, 2 * merged, 2, 2);
  EXPECT_NEAR(printed, expected, 0.005 * expected) << r.output;  // printed with 3 significant digits
  EXPECT_TRUE(contains(r.output, "FLOP/s (model ")) << r.output;
  EXPECT_FALSE(contains(r.output, "MFU")) << "MFU is a CUDA figure: " << r.output;
}

}  // namespace e2e_commands_cli_test
