#include "vr/train/train_state.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/process_memory.h"
#include "vr/train/optimizer.h"

namespace train_train_state_test {

namespace fs = std::filesystem;
using namespace vr::train;

static TrainCheckpoint sample_checkpoint(int64_t step) {
  TrainCheckpoint c;
  c.trainable["multi_modal_projector.linear_1.weight"] = torch::full({2, 3}, static_cast<float>(step));
  c.optimizer["step"] = torch::tensor(step, torch::kInt64);
  c.optimizer["exp_avg.x"] = torch::arange(4, torch::kFloat);
  c.rng = capture_rng_state();
  c.state = {{"step", step}, {"data", {{"position", 3 * step}}}};
  c.config_yaml = "train:\n  lr: 0.1\n";
  return c;
}

TEST(TrainState, SaveLoadRoundTrip) {
  auto dir = vr::test::temp_dir("train_state");
  auto path = save_train_checkpoint(dir, 7, sample_checkpoint(7), 2);
  EXPECT_EQ(fs::path(path).filename(), "step_00000007");
  auto c = load_train_checkpoint(path);
  EXPECT_TRUE(torch::equal(c.trainable.at("multi_modal_projector.linear_1.weight"), torch::full({2, 3}, 7.0f)));
  EXPECT_EQ(c.optimizer.at("step").item<int64_t>(), 7);
  EXPECT_EQ(c.state.at("data").at("position"), 21);
  EXPECT_EQ(c.config_yaml, "train:\n  lr: 0.1\n");
  EXPECT_TRUE(fs::exists(fs::path(path) / "config.yaml"));
}

TEST(TrainState, KeepsOnlyTheNewestAndFindsLatest) {
  auto dir = vr::test::temp_dir("train_state_keep");
  EXPECT_FALSE(latest_checkpoint(dir).has_value());
  for (int64_t s : {2, 4, 6, 8}) save_train_checkpoint(dir, s, sample_checkpoint(s), 2);
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(fs::path(dir) / "checkpoints")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step_00000006", "step_00000008"}));
  EXPECT_EQ(fs::path(*latest_checkpoint(dir)).filename(), "step_00000008");
}

// A directory without state.json (a write cut short) is neither "latest" nor loadable.
TEST(TrainState, IncompleteCheckpointIsIgnored) {
  auto dir = vr::test::temp_dir("train_state_partial");
  save_train_checkpoint(dir, 1, sample_checkpoint(1), 3);
  fs::create_directories(fs::path(dir) / "checkpoints" / "step_00000005");
  fs::create_directories(fs::path(dir) / "checkpoints" / ".tmp-step_00000006");
  EXPECT_EQ(fs::path(*latest_checkpoint(dir)).filename(), "step_00000001");
  EXPECT_THROW(load_train_checkpoint((fs::path(dir) / "checkpoints" / "step_00000005").string()), vr::Error);
}

// Resume streams: the checkpoint's tensors are views on the mapped files, copied one by one into the model and
// the optimizer and released once copied, so resuming a checkpoint of S bytes adds about one tensor of resident
// memory, not S (the old resume cloned everything first: >= S). S = 64 MiB here (16 tensors of 1 MiB fp32 x 4
// files' worth: weights + exp_avg + exp_avg_sq + masters); the bound 0.25 S leaves room for the allocator.
TEST(TrainState, ResumeStreamsTensorByTensor) {
  struct Model : torch::nn::Module {
    Model() {
      for (int i = 0; i < 16; ++i) register_parameter("w" + std::to_string(i), torch::zeros({256, 1024}));
    }
  };
  auto make_optimizer = [](Model& m) {
    ParamGroup g{"llm", 1e-3, 0.0, {}, {}};
    for (auto& kv : m.named_parameters()) {
      g.names.push_back(kv.key());
      g.params.push_back(kv.value());
    }
    return AdamW({g});
  };
  const auto dir = vr::test::temp_dir("train_state_stream");
  {
    Model m;
    AdamW opt = make_optimizer(m);
    for (auto& kv : m.named_parameters()) kv.value().mutable_grad() = torch::ones_like(kv.value());
    opt.step(1.0);
    TrainCheckpoint c;
    for (auto& kv : m.named_parameters()) c.trainable[kv.key()] = kv.value().detach();
    c.optimizer = opt.state_dict();
    c.rng = capture_rng_state();
    c.state = {{"step", 1}, {"data", nlohmann::json::object()}};
    save_train_checkpoint(dir, 1, c, 1);
  }
  Model m;
  AdamW opt = make_optimizer(m);
  const double s = 64.0 * (1 << 20);
  const int64_t before = vr::current_rss_bytes();
  if (!vr::reset_peak_rss()) GTEST_SKIP() << "the kernel does not allow resetting VmHWM";
  const std::string ckpt = *latest_checkpoint(dir);
  TrainCheckpoint c = load_train_checkpoint(ckpt);
  load_trainable_weights(m, c, ckpt);
  opt.load_state_dict(c.optimizer, [&c](const std::string& key) { c.release_optimizer(key); });
  const double added = static_cast<double>(vr::peak_rss_bytes() - before);
  EXPECT_LT(added, 0.25 * s) << "resume added " << added / (1 << 20) << " MiB of resident memory";
  for (auto& kv : m.named_parameters()) EXPECT_NE(kv.value().abs().sum().item<double>(), 0.0) << kv.key();
  EXPECT_EQ(opt.step_count(), 1);
}

TEST(TrainState, RngStateRestoresTheSameDraws) {
  torch::manual_seed(11);
  auto saved = capture_rng_state();
  auto a = torch::rand({5});
  torch::rand({100});
  restore_rng_state(saved);
  EXPECT_TRUE(torch::equal(a, torch::rand({5})));
  EXPECT_THROW(restore_rng_state({}), vr::Error);
}

}  // namespace train_train_state_test
