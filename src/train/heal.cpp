// A short fine-tune of a pruned checkpoint: lm_head + the last k layers, through prepare_run / LvlmTask / Trainer
// exactly as `vrtrain train` runs them (one process).
#include "vr/train/heal.h"

#include <algorithm>
#include <filesystem>

#include <torch/torch.h>

#include "vr/core/config.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/data/loader.h"
#include "vr/prune/prune_checkpoint.h"
#include "vr/train/lvlm_task.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_context.h"
#include "vr/train/run_loader.h"

namespace vr::train {

HealResult heal_pruned_checkpoint(const std::string& pruned_dir, const HealOptions& o,
                                  std::function<void(const std::string&)> log) {
  namespace fs = std::filesystem;
  VR_CHECK(o.steps >= 1, "healing needs at least one training step, got {}", o.steps);
  VR_CHECK(o.tune_last_layers >= 1, "healing tunes at least the last layer, got k = {}", o.tune_last_layers);
  VR_CHECK(!o.work_dir.empty(), "healing needs a run directory");
  const int64_t L = vr::prune::checkpoint_num_layers(pruned_dir);
  const int64_t k = std::min(o.tune_last_layers, L);

  RunConfig cfg = o.run;
  cfg.model.path = pruned_dir;
  cfg.model.make_tiny_family.clear();
  cfg.output_dir = o.work_dir;
  cfg.resume = "never";
  cfg.train.stage = "sft";
  cfg.train.method = "full";
  cfg.train.max_steps = o.steps;
  cfg.train.train_lm_head = true;
  cfg.train.train_projector = false;
  cfg.train.export_final = true;
  cfg.selection = vr::selection::SelectionConfig{};
  cfg.selection.strategy = "manual";
  for (int64_t l = L - k; l < L; ++l) cfg.selection.layers.push_back(l);
  cfg.validate();

  const RunContext ctx = make_run_context(cfg);
  torch::manual_seed(ctx.dropout_seed);  // as `vrtrain train`: the run's randomness depends on train.seed alone
  PreparedRun run = prepare_run(cfg, ctx);
  auto loader = make_run_loader(cfg, ctx);
  const std::string yaml = vr::dump_yaml(cfg);
  fs::create_directories(cfg.output_dir);
  vr::atomic_write_file((fs::path(cfg.output_dir) / "config.yaml").string(), yaml);
  if (log) log(run.plan);
  LvlmTask task(run.model, std::move(loader), ctx, /*lora=*/false, cfg.model.path);
  Trainer trainer(cfg, ctx, task, yaml, std::move(log));
  HealResult r;
  r.train = trainer.run();
  r.final_dir = (fs::path(cfg.output_dir) / "final").string();
  r.tuned_layers = cfg.selection.layers;
  VR_CHECK(fs::exists(fs::path(r.final_dir) / "config.json"), "healing finished but wrote no {}", r.final_dir);
  return r;
}

}  // namespace vr::train
