#include "vr/train/trainer.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "train/toy_task.h"
#include "vr/train/trainable_params.h"
#include "vr/train/train_state.h"

namespace train_trainer_test {

namespace fs = std::filesystem;
using namespace vr::train;

static RunConfig toy_config(const std::string& out) {
  RunConfig c;
  c.model.path = "toy";
  c.output_dir = out;
  c.train.lr = 3e-2;
  c.train.mm_projector_lr = 1e-2;
  c.train.weight_decay = 0.01;
  c.train.max_steps = 12;
  c.train.grad_accum = 2;
  c.train.save_every = 4;
  c.train.keep_last = 2;
  c.train.warmup_ratio = 0.1;
  return c;
}

static std::map<std::string, at::Tensor> weights(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (auto& kv : m.named_parameters()) out[kv.key()] = kv.value().detach().clone();
  return out;
}

static std::vector<nlohmann::json> read_metrics(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream f(fs::path(dir) / "metrics.jsonl");
  for (std::string line; std::getline(f, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Trainer, TotalSteps) {
  TrainSection t;
  t.max_steps = 0;
  t.epochs = 2;
  t.grad_accum = 4;
  EXPECT_EQ(total_optimizer_steps(t, 10), 4);  // 2 · floor(10 / 4)
  EXPECT_EQ(total_optimizer_steps(t, 3), 2);   // at least one step per epoch
  t.max_steps = 7;
  EXPECT_EQ(total_optimizer_steps(t, 10), 7);
}

TEST(Trainer, LossFallsOnlyTrainableChangeAndMetricsAreWritten) {
  auto dir = vr::test::temp_dir("trainer_toy");
  auto model = std::make_shared<vr::test::ToyLvlm>();
  apply_freeze(*model, FreezeSpec{"sft", "full", {1, 3}, true, false, true});
  auto before = weights(*model);
  vr::test::ToyTask task(model, 16, 1024, 0.0);
  RunConfig cfg = toy_config(dir);
  cfg.train.max_steps = 40;
  cfg.train.lr = 0.1;
  cfg.train.mm_projector_lr = 0.1;
  cfg.train.max_grad_norm = 0;
  std::vector<std::string> lines;
  Trainer trainer(cfg, task, "yaml", [&](const std::string& s) { lines.push_back(s); });
  TrainResult r = trainer.run();
  EXPECT_EQ(r.steps_done, 40);
  EXPECT_LT(r.last_loss, 0.5 * r.first_loss) << r.first_loss << " -> " << r.last_loss;
  auto after = weights(*model);
  for (auto& kv : before) {
    bool changed = !torch::equal(kv.second, after.at(kv.first));
    EXPECT_EQ(changed, model->named_parameters()[kv.first].requires_grad()) << kv.first;
  }
  auto m = read_metrics(dir);
  ASSERT_EQ(m.size(), 40u);
  for (const char* key : {"step", "loss", "lr", "grad_norm", "tokens_per_s"}) EXPECT_TRUE(m[0].contains(key)) << key;
  EXPECT_EQ(m[0]["lr"].get<double>(), 0.0);  // warmup starts at 0 (W = ceil(0.1·40) = 4)
  EXPECT_NEAR(m[4]["lr"].get<double>(), 0.1, 1e-12);
  EXPECT_NEAR(m[4]["lr_projector"].get<double>(), 0.1, 1e-12);
  EXPECT_EQ(m.back()["step"], 40);
  EXPECT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("step 40/40"), std::string::npos) << lines.back();
  EXPECT_EQ(task.exported_to, (fs::path(dir) / "final").string());
  EXPECT_EQ(fs::path(*latest_checkpoint(dir)).filename(), "step_00000040");
}

// A second run into the same folder that resumes nothing (resume: never) starts the curve afresh: metrics.jsonl
// holds each step once, not the first run's lines followed by the second's.
TEST(Trainer, FreshRunIntoAnUsedFolderStartsTheMetricsAfresh) {
  auto dir = vr::test::temp_dir("trainer_fresh_twice");
  for (int run = 0; run < 2; ++run) {
    auto model = std::make_shared<vr::test::ToyLvlm>();
    apply_freeze(*model, FreezeSpec{"sft", "full", {1, 3}, true, false, true});
    vr::test::ToyTask task(model, 16, 1024, 0.0);
    RunConfig cfg = toy_config(dir);
    cfg.resume = "never";
    cfg.train.max_steps = 3;
    cfg.train.save_every = 0;
    Trainer(cfg, task, "yaml").run();
  }
  auto m = read_metrics(dir);
  ASSERT_EQ(m.size(), 3u);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(m[i]["step"].get<int64_t>(), i + 1);
}

// Stop after step 5 (checkpoint at 4 and 5), resume in a fresh process-like setup (new model, new task),
// finish: weights equal an uninterrupted run bit for bit. Dropout draws from the global generator, so this also
// checks the RNG state restore.
TEST(Trainer, ResumeIsBitIdentical) {
  auto run = [](const std::string& dir, int64_t stop_after, bool fresh_seed) {
    if (fresh_seed) torch::manual_seed(99);
    auto model = std::make_shared<vr::test::ToyLvlm>();
    apply_freeze(*model, FreezeSpec{"sft", "full", {0, 2}, true, false, true});
    vr::test::ToyTask task(model, 8, 64, 0.2);
    RunConfig cfg = toy_config(dir);
    cfg.train.stop_after_step = stop_after;
    Trainer(cfg, task, "yaml").run();
    return weights(*model);
  };
  auto straight = run(vr::test::temp_dir("trainer_straight"), 0, true);
  auto dir = vr::test::temp_dir("trainer_resumed");
  run(dir, 5, true);
  torch::manual_seed(12345);  // a resumed process starts with another generator state
  auto resumed = run(dir, 0, false);
  for (auto& kv : straight) EXPECT_TRUE(torch::equal(kv.second, resumed.at(kv.first))) << kv.first;
  auto m = read_metrics(dir);
  ASSERT_EQ(m.size(), 12u);  // steps 1..12, none duplicated
  for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i]["step"], static_cast<int64_t>(i + 1));
}

TEST(Trainer, NanLossStopsWithStepAndSampleIdsAndKeepsLastCheckpoint) {
  auto dir = vr::test::temp_dir("trainer_nan");
  auto model = std::make_shared<vr::test::ToyLvlm>();
  apply_freeze(*model, FreezeSpec{"pretrain", "full", {}, true, false, true});
  vr::test::ToyTask task(model, 8, 64, 0.0);
  task.nan_at_ = 10;  // micro-batch 10 = step 6 (grad_accum 2), micro-batch 1
  RunConfig cfg = toy_config(dir);
  Trainer trainer(cfg, task, "yaml");
  try {
    trainer.run();
    FAIL() << "expected NonFiniteError";
  } catch (const NonFiniteError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("step 6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("toy-10"), std::string::npos) << msg;
  }
  auto last = latest_checkpoint(dir);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(fs::path(*last).filename(), "step_00000004");
  auto c = load_train_checkpoint(*last);
  for (auto& kv : c.trainable) EXPECT_TRUE(torch::isfinite(kv.second).all().item<bool>()) << kv.first;
}

}  // namespace train_trainer_test
