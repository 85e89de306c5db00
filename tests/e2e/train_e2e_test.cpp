// End-to-end runs of the real `vrtrain` binary on a tiny random model and the synthetic-shapes data.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "support/tiny_models.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/torch_compat.h"
#include "vr/model/tiny_model.h"

namespace e2e_train_e2e_test {

namespace fs = std::filesystem;

namespace {

// A tiny llava model shared by the tests of this file (created once per process).
const std::string& tiny_model() { return vr::test::shared_tiny_model("llava", 3); }

std::string base_args(const std::string& out) {
  return fmt::format(
      "--config {}/configs/tiny_synthetic.yaml --set model.path={} --set output_dir={} --set train.num_threads=2 "
      "--set data.num_workers=1 --set train.device=cpu",
      VR_SOURCE_DIR, tiny_model(), out);
}

struct RunOutput {
  int code = -1;
  std::string text;
};

RunOutput run_vrtrain(const std::string& args) {
  std::string log = vr::test::temp_dir("e2e_log") + "/out.txt";
  int status = std::system(fmt::format("{} {} > {} 2>&1", VRTRAIN_BIN, args, log).c_str());
  RunOutput r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.text = vr::read_file(log);
  return r;
}

std::vector<double> losses(const std::string& out) {
  std::vector<double> v;
  std::ifstream f(fs::path(out) / "metrics.jsonl");
  for (std::string line; std::getline(f, line);) v.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return v;
}

std::map<std::string, at::Tensor> final_weights(const std::string& out) {
  return vr::load_safetensors((fs::path(out) / "final" / "model.safetensors").string());
}

}  // namespace

// One run per selection strategy / stage / method overlay of configs/ (a separate test each, so they run in
// parallel and a failure names its overlay).
class TrainE2eLossFalls : public ::testing::TestWithParam<const char*> {};

TEST_P(TrainE2eLossFalls, WellBelowTheStart) {
  const std::string overlay = GetParam();
  std::string out = vr::test::temp_dir("e2e_strategy");
  std::string extra = overlay != "tiny_synthetic"
                          ? fmt::format(" --config {}/configs/{}.yaml --set output_dir={}", VR_SOURCE_DIR, overlay, out)
                          : "";
  RunOutput r = run_vrtrain(base_args(out) + extra + " --set train.max_steps=30 --set train.save_every=0");
  ASSERT_EQ(r.code, 0) << overlay << "\n" << r.text;
  auto l = losses(out);
  ASSERT_EQ(l.size(), 30u) << overlay;
  double first = l[0], last = (l[27] + l[28] + l[29]) / 3;
  // Every selection strategy (and full, LoRA) halves the loss in 30 steps. Stage 1 trains only the projector
  // under a frozen random LLM, which can shape the image slots but not the caption text: it falls by ~20%
  // (7.1 -> 5.6 on this model), so it is held to a 10% drop.
  const double bound = overlay == "tiny_pretrain" ? 0.9 : 0.5;
  EXPECT_LT(last, bound * first) << overlay << ": loss " << first << " -> " << last << "\n" << r.text;
}

INSTANTIATE_TEST_SUITE_P(TrainE2e, TrainE2eLossFalls,
                         ::testing::Values("tiny_synthetic", "tiny_consecutive", "tiny_random", "tiny_manual",
                                           "tiny_block_influence", "tiny_attention", "tiny_full", "tiny_lora",
                                           "tiny_pretrain"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST(TrainE2e, OnlySelectedLayersAndProjectorChange) {
  std::string out = vr::test::temp_dir("e2e_changed");
  RunOutput r = run_vrtrain(base_args(out) + " --config " + VR_SOURCE_DIR +
                            "/configs/tiny_manual.yaml --set output_dir=" + out +
                            " --set selection.layers=[2,6] --set train.max_steps=5");
  ASSERT_EQ(r.code, 0) << r.text;
  auto before = vr::load_safetensors((fs::path(tiny_model()) / "model.safetensors").string());
  auto after = final_weights(out);
  ASSERT_EQ(before.size(), after.size());
  int changed_layers = 0;
  for (auto& [name, t] : before) {
    ASSERT_TRUE(after.count(name)) << name;
    bool should = name.rfind("multi_modal_projector.", 0) == 0 ||
                  name.rfind("language_model.model.layers.2.", 0) == 0 ||
                  name.rfind("language_model.model.layers.6.", 0) == 0;
    bool changed = !torch::equal(t, after.at(name));
    EXPECT_EQ(changed, should) << name;
    changed_layers += changed && name.find("layers.") != std::string::npos;
  }
  EXPECT_EQ(changed_layers, 2 * 9);  // 7 projections + 2 norms per selected layer
}

// SIGKILL the real binary after its step-4 checkpoint, resume, and compare with an uninterrupted run bit for bit.
TEST(TrainE2e, KillAndResumeIsBitIdentical) {
  const std::string common = " --set train.max_steps=12 --set train.save_every=2 --set train.keep_last=3";
  std::string straight = vr::test::temp_dir("e2e_straight");
  ASSERT_EQ(run_vrtrain(base_args(straight) + common).code, 0);

  std::string killed = vr::test::temp_dir("e2e_killed");
  std::string cmd = fmt::format("exec {} {}{} > {}/log.txt 2>&1", VRTRAIN_BIN, base_args(killed), common, killed);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const fs::path marker = fs::path(killed) / "checkpoints" / "step_00000004" / "state.json";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(marker) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(fs::exists(marker)) << "no checkpoint within 60 s";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  EXPECT_FALSE(fs::exists(fs::path(killed) / "final"));

  RunOutput r = run_vrtrain(base_args(killed) + common);
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("resumed from"), std::string::npos) << r.text;
  auto a = final_weights(straight), b = final_weights(killed);
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  // metrics: every step exactly once
  auto l = losses(killed);
  EXPECT_EQ(l.size(), 12u);
  EXPECT_EQ(l, losses(straight));
}

TEST(TrainE2e, StopAfterStepThenResumeMatches) {
  const std::string common = " --set train.max_steps=6 --set train.save_every=0";
  std::string straight = vr::test::temp_dir("e2e_stop_straight");
  ASSERT_EQ(run_vrtrain(base_args(straight) + common).code, 0);
  std::string split = vr::test::temp_dir("e2e_stop_split");
  EXPECT_EQ(run_vrtrain(base_args(split) + common + " --set train.stop_after_step=3").code, 3);
  ASSERT_EQ(run_vrtrain(base_args(split) + common).code, 0);
  auto a = final_weights(straight), b = final_weights(split);
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

// The README's first command on a fresh checkout: no model yet, the config's make_tiny_family creates it.
TEST(TrainE2e, FirstRunCreatesTheTinyModel) {
  std::string out = vr::test::temp_dir("e2e_first");
  RunOutput r = run_vrtrain(fmt::format("--config {}/configs/tiny_synthetic.yaml --set model.path={}/model "
                                        "--set output_dir={}/run --set train.max_steps=3",
                                        VR_SOURCE_DIR, out, out));
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("created tiny llava model"), std::string::npos) << r.text;
  EXPECT_TRUE(fs::exists(fs::path(out) / "model" / "tokenizer.json"));
  EXPECT_EQ(losses(out + "/run").size(), 3u);
  std::ifstream metrics(fs::path(out) / "run" / "metrics.jsonl");
  std::string line;
  std::getline(metrics, line);
  const auto first = nlohmann::json::parse(line);
  EXPECT_TRUE(first.contains("tokens_per_s_per_rank")) << line;
  if (!vr::compat::cuda_available())
    EXPECT_FALSE(first.contains("gpu_peak_allocated_bytes")) << "GPU fields are absent on the CPU: " << line;
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "preprocessor_config.json"})
    EXPECT_TRUE(fs::exists(fs::path(out) / "run" / "final" / f)) << f;  // a complete checkpoint for inference
}

// A run's randomness depends on its seed alone: the run that creates its tiny model (model.make_tiny_family,
// which draws the weights from the global generator) and the same run on the model it created give bit-identical
// weights, with LoRA dropout on (the draws that would shift if creating the model consumed the stream first).
TEST(TrainE2e, CreatingTheModelDoesNotShiftTheRunsRandomness) {
  std::string out = vr::test::temp_dir("e2e_seeded");
  const std::string common = fmt::format(
      "--config {0}/configs/tiny_synthetic.yaml --config {0}/configs/tiny_lora.yaml --set lora.dropout=0.2 "
      "--set model.path={1}/model --set train.max_steps=3 --set train.save_every=0 --set train.num_threads=1",
      VR_SOURCE_DIR, out);
  RunOutput created = run_vrtrain(common + " --set output_dir=" + out + "/created");
  ASSERT_EQ(created.code, 0) << created.text;
  ASSERT_NE(created.text.find("created tiny llava model"), std::string::npos) << created.text;
  RunOutput found = run_vrtrain(common + " --set output_dir=" + out + "/found");
  ASSERT_EQ(found.code, 0) << found.text;
  ASSERT_EQ(found.text.find("created tiny llava model"), std::string::npos) << found.text;
  EXPECT_EQ(losses(out + "/created"), losses(out + "/found"));
  auto a = final_weights(out + "/created"), b = final_weights(out + "/found");
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

// Truncation to 24 tokens cuts every answer away: no supervised token in any batch. The run must neither stop on
// a NaN (the reference's mean over zero tokens) nor change a weight; it reports the batches.
TEST(TrainE2e, BatchesWithoutSupervisedTokensTeachNothing) {
  std::string out = vr::test::temp_dir("e2e_unsupervised");
  RunOutput r = run_vrtrain(base_args(out) + " --set data.model_max_length=24 --set train.max_steps=2");
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("no supervised token"), std::string::npos) << r.text;
  EXPECT_EQ(losses(out), (std::vector<double>{0.0, 0.0}));
  auto before = vr::load_safetensors((fs::path(tiny_model()) / "model.safetensors").string());
  for (auto& [name, t] : final_weights(out)) EXPECT_TRUE(torch::equal(t, before.at(name))) << name;
}

// synthetic-shapes must be learnable: after a short run of the default config the model answers closed-set
// questions about held-out images well above chance (`vrtrain eval`), while the untrained model sits at chance.
// Observed (2 threads): untrained 31% vs chance 32%; 150 steps ~55%; 200 steps 62% (colour 92%, count 65%).
TEST(TrainE2e, TrainedModelAnswersHeldOutQuestionsAboveChance) {
  std::string out = vr::test::temp_dir("e2e_vqa");
  RunOutput r = run_vrtrain(base_args(out) + " --set train.max_steps=150 --set train.save_every=0");
  ASSERT_EQ(r.code, 0) << r.text;
  auto eval = [&](const std::string& model, const std::string& tag) {
    RunOutput e = run_vrtrain(fmt::format("eval --model {} --samples 48 --threads 2 --output {}/{}.json", model, out,
                                          tag));
    EXPECT_EQ(e.code, 0) << e.text;
    std::ifstream f(fmt::format("{}/{}.json", out, tag));
    // The eval summary (issue 12): model, task, data checksum, n, time, and the task's figures under "metrics".
    nlohmann::json summary = nlohmann::json::parse(f);
    EXPECT_EQ(summary.value("task", ""), "shapes") << summary.dump();
    return summary.at("metrics");
  };
  nlohmann::json before = eval(tiny_model(), "before"), after = eval(out + "/final", "after");
  const double chance = after["chance"].get<double>();
  EXPECT_NEAR(chance, 0.32, 0.05);
  EXPECT_LT(before["accuracy"].get<double>(), chance + 0.1) << before.dump();
  EXPECT_GT(after["accuracy"].get<double>(), chance + 0.12) << after.dump();
  EXPECT_GT(after["by_type"]["colour"]["accuracy"].get<double>(), 0.6) << after.dump();
}

TEST(TrainE2e, DryRunPrintsThePlanAndTrainsNothing) {
  std::string out = vr::test::temp_dir("e2e_dry");
  RunOutput r = run_vrtrain(base_args(out) + " --dry-run");
  ASSERT_EQ(r.code, 0) << r.text;
  for (const char* s : {"selection: uniform", "multi_modal_projector", "memory plan", "optimizer", "dry run"})
    EXPECT_NE(r.text.find(s), std::string::npos) << s << "\n" << r.text;
  EXPECT_FALSE(fs::exists(fs::path(out) / "checkpoints"));
}

TEST(TrainE2e, ConfigErrorsNameTheKey) {
  std::string out = vr::test::temp_dir("e2e_bad");
  RunOutput r = run_vrtrain(base_args(out) + " --set train.batch_size=0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("train.batch_size must be > 0"), std::string::npos) << r.text;
  r = run_vrtrain(base_args(out) + " --set train.lrr=0.1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("train.lr"), std::string::npos) << r.text;
  r = run_vrtrain(base_args(out) + " --set selection.strategy=manual --set selection.layers=[1,99]");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("99"), std::string::npos) << r.text;
  r = run_vrtrain("make-tiny --output " + out + "/m --layers 8x");
  EXPECT_EQ(r.code, 2);  // a bad flag value is a usage error
  EXPECT_NE(r.text.find("--layers needs an integer, got '8x'"), std::string::npos) << r.text;
  r = run_vrtrain(fmt::format("--config {}/configs/llava_v15_7b.yaml --dry-run", VR_SOURCE_DIR));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("placeholder"), std::string::npos) << r.text;
}

TEST(TrainE2e, NanLossStopsWithExitCode4) {
  std::string out = vr::test::temp_dir("e2e_nan");
  RunOutput r = run_vrtrain(base_args(out) +
                            " --set train.lr=1e12 --set train.mm_projector_lr=1e12 --set train.max_grad_norm=0 "
                            "--set train.warmup_ratio=0 --set train.max_steps=30 --set train.save_every=1");
  EXPECT_EQ(r.code, 4) << r.text;
  EXPECT_NE(r.text.find("at step"), std::string::npos) << r.text;
  EXPECT_FALSE(fs::exists(fs::path(out) / "final"));
}

TEST(TrainE2e, HelpListsEveryKeyWithDefaults) {
  RunOutput r = run_vrtrain("train --help");
  ASSERT_EQ(r.code, 0);
  for (const char* k : {"model.path", "output_dir", "train.max_steps", "train.seed", "selection.strategy",
                        "selection.layers", "train.mm_projector_lr", "lora.r", "data.synthetic.num_samples"})
    EXPECT_NE(r.text.find(k), std::string::npos) << k;
  EXPECT_EQ(run_vrtrain("make-tiny --help").code, 0);
  EXPECT_EQ(run_vrtrain("bench --help").code, 0);
}

}  // namespace e2e_train_e2e_test
