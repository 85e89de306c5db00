// `vrtrain train` (and `vrtrain --config FILE`): run a training job described by a YAML config.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/cpu_threads.h"
#include "vr/core/tensor_files.h"
#include "vr/core/config.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/logging.h"
#include "vr/core/process_memory.h"
#include "vr/core/progress.h"
#include "vr/data/loader.h"
#include "vr/model/lvlm.h"
#include "vr/train/lvlm_task.h"
#include "vr/train/metrics.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_config.h"
#include "vr/train/run_context.h"
#include "vr/train/run_loader.h"
#include "vr/train/run_summary.h"
#include "vr/train/tiny_model_for_run.h"
#include "vr/train/trainer.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace fs = std::filesystem;

namespace cmd_train {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription =
    "vrtrain train: train a vision-language model with selective (\"visual region\") layer tuning.";

const char* kFooterHead = R"(Any key also works as --KEY=VALUE (e.g. --train.lr=1e-4), the same as --set KEY=VALUE.

Stages (train.stage): pretrain = projector only; sft = projector + the layers chosen by selection.*
(all their tensors with train.method=full, LoRA adapters with train.method=lora); full = projector + all
LLM layers. A layer list (selection.layers) means selection.strategy=manual.
Output in output_dir: metrics.jsonl (one line per step), checkpoints/step_N/ (resumable),
config.yaml, final/ (HF checkpoint for `vrtrain forward`). A run killed at any point resumes exactly
with `resume: auto` (the default). Exit codes: 0 done, 1 error, 2 bad usage, 3 stopped by
train.stop_after_step, 4 non-finite loss (on any rank), 5 a data-parallel collective failed or timed out
(a rank died).
Several processes: start the ranks with `vrtrain launch --nproc-per-node N -- train ...`, torchrun, srun or
mpirun (docs/distributed.md); the dist.* keys below set backend, timeouts and bucket size.

Example: vrtrain --config configs/tiny_synthetic.yaml --set train.max_steps=20

Every key, its type, default and meaning:
)";

// Reads the flags into `cfg` (and --dry-run); the exit code when the command ends here (--help, a bad flag).
std::optional<int> parse_flags(const std::vector<std::string>& args, vr::train::RunConfig& cfg, bool& dry_run) {
  vr::train::RunConfig defaults;
  std::string resume;
  vr::cli::ConfigFlags config;
  CLI::App app = vr::cli::make_app("train", kDescription, kFooterHead + vr::describe_fields(defaults));
  vr::cli::set_usage(app,
                     "vrtrain train --config FILE [--set key=value ...] [--resume auto|never|DIR] [--dry-run]\n"
                     "vrtrain --config FILE [--set key=value ...] [--dry-run]   (the same)");
  vr::cli::add_config_flags(app, config);
  app.get_option("--set")->description(
      "override one key, e.g. --set train.max_steps=100 --set selection.layers=1,5,9,13\n(repeatable)");
  app.add_option("--resume", resume,
                 "same as --set resume=X: auto (latest checkpoint in output_dir), never, or a directory")
      ->type_name("X");
  app.add_flag("--dry-run", dry_run, "validate the config and data, load the model, print the plan; do not train");
  app.allow_extras();  // --train.lr=1e-4 shorthands, checked below
  if (auto code = vr::cli::parse(app, args)) return *code;
  std::vector<std::string> extra;
  for (const std::string& a : app.remaining()) {
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos && a.find('.') < eq)
      extra.push_back(a.substr(2));  // --train.lr=1e-4 shorthand
    else
      return vr::cli::usage_error(app, "The following argument was not expected: " + a);
  }
  if (config.files.empty()) return vr::cli::usage_error(app, "--config is required");
  if (!resume.empty()) extra.push_back("resume=" + resume);
  cfg = vr::cli::load_run_config(config, extra);
  return std::nullopt;
}

void print_data_plan(const vr::train::RunConfig& cfg, const vr::train::RunContext& ctx, int64_t batches_per_epoch) {
  const int64_t total = vr::train::total_optimizer_steps(cfg.train, batches_per_epoch);
  std::printf("data: %s, %lld micro-batches of %lld per epoch and rank; %lld optimizer steps (grad_accum %lld); "
              "global batch %lld = %lld x %lld x %lld ranks\n",
              cfg.data.path.c_str(), static_cast<long long>(batches_per_epoch),
              static_cast<long long>(cfg.train.batch_size), static_cast<long long>(total),
              static_cast<long long>(cfg.train.grad_accum),
              static_cast<long long>(cfg.train.batch_size * cfg.train.grad_accum * ctx.world_size),
              static_cast<long long>(cfg.train.batch_size), static_cast<long long>(cfg.train.grad_accum),
              static_cast<long long>(ctx.world_size));
}

void print_done(const vr::train::RunConfig& cfg, const vr::train::PreparedRun& run, const vr::train::TrainResult& r) {
  const double pct = 100.0 * static_cast<double>(run.trainable.trainable_numel) /
                     static_cast<double>(std::max<int64_t>(1, run.trainable.total_numel));
  std::printf(
      "done: %lld steps in %s | loss %.4f -> %.4f | %.0f tok/s, %.1f img/s | peak RSS %s | trainable %.2f%% | "
      "final model: %s\n",
      static_cast<long long>(r.steps_done), vr::format_duration(r.seconds).c_str(), r.first_loss,
      r.last_loss, r.seconds > 0 ? static_cast<double>(r.tokens) / r.seconds : 0.0,
      r.seconds > 0 ? static_cast<double>(r.images) / r.seconds : 0.0,
      vr::format_bytes(static_cast<uint64_t>(vr::peak_rss_bytes())).c_str(), pct,
      cfg.train.export_final ? (fs::path(cfg.output_dir) / "final").c_str() : "(not exported)");
}

int run_train(const std::vector<std::string>& args) {
  vr::train::RunConfig cfg;
  bool dry_run = false;
  if (auto code = parse_flags(args, cfg, dry_run)) return *code;
  // Who we are in a data-parallel job (torchrun, Slurm, Open MPI, vrtrain launch or dist.*); 1 of 1 otherwise.
  const vr::train::RunContext ctx = vr::train::make_run_context(cfg, /*data_parallel=*/true);
  const bool main_rank = ctx.is_main();
  vr::apply_thread_policy(cfg.train.num_threads, ctx.local_world_size);
  // The model first: a tiny model (model.make_tiny_family) is created before the loader reads its tokenizer
  // and image processor from model.path. Data parallel: create it before the run (vrtrain make-tiny), as ranks
  // starting together would write the same files.
  if (auto created = vr::train::make_tiny_model_if_missing(cfg)) {
    if (main_rank) std::printf("%s\n", created->c_str());
  }
  // The run is seeded here, after the tiny model was made (its init draws from the global generator), so a run
  // that creates its model draws what the same run on an existing model draws: its randomness (LoRA init and
  // dropout, random selection) depends on train.seed alone. train.seed on rank 0; per-rank streams
  // (vr/train/run_context.h).
  torch::manual_seed(ctx.dropout_seed);
  vr::train::PreparedRun run = vr::train::prepare_run(cfg, ctx);
  auto loader = vr::train::make_run_loader(cfg, ctx);
  const std::string yaml = vr::dump_yaml(cfg);
  if (main_rank) std::printf("%s: %s\n%s", cfg.output_dir.c_str(), vr::train::describe(ctx).c_str(), run.plan.c_str());
  if (main_rank) print_data_plan(cfg, ctx, loader->batches_per_epoch());
  if (dry_run) {
    std::printf("dry run: config, data and model are valid; nothing trained.\n");
    return 0;
  }
  fs::create_directories(cfg.output_dir);
  if (main_rank) vr::atomic_write_file((fs::path(cfg.output_dir) / "config.yaml").string(), yaml);
  vr::train::LvlmTask task(run.model, std::move(loader), ctx, cfg.train.method == "lora", cfg.model.path);
  vr::train::Trainer trainer(cfg, ctx, task, yaml, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  vr::train::TrainResult r;
  try {
    r = trainer.run();
  } catch (const vr::train::NonFiniteError& e) {
    if (ctx.world_size > 1) std::fprintf(stderr, "[rank %lld] ", static_cast<long long>(ctx.rank));
    std::fprintf(stderr, "vrtrain train: stopped: %s\n", e.what());
    return 4;
  }
  if (!main_rank) return r.stopped_early ? 3 : 0;
  if (r.stopped_early) {
    std::printf("stopped after step %lld (train.stop_after_step); checkpoint %s\n",
                static_cast<long long>(r.steps_done), r.last_checkpoint.c_str());
    return 3;
  }
  // What `vrtrain compare` tabulates beyond metrics.jsonl: the resolved selection, parameter counts, peak memory.
  vr::atomic_write_file((fs::path(cfg.output_dir) / "run_summary.json").string(),
                        vr::train::make_run_summary(cfg, run, r, ctx.world_size).to_json().dump(2) + "\n");
  print_done(cfg, run, r);
  return 0;
}

vr::cli::Registration registration_train{"train", "Train a model from a YAML config (also: vrtrain --config FILE)", &run_train};

}  // namespace cmd_train
