// `vrtrain bench`: time complete training steps (forward, backward, AdamW) of a checkpoint on random inputs.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "vr/core/cpu_threads.h"
#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/flops.h"
#include "vr/model/lvlm_flops.h"
#include "vr/model/lvlm.h"
#include "vr/core/device.h"
#include "vr/core/process_memory.h"
#include "vr/core/progress.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_context.h"
#include "vr/train/run_options.h"
#include "vr/train/memory_plan_config.h"
#include "vr/train/metrics.h"
#include "vr/train/optimizer.h"
#include "vr/train/trainable_params.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_bench {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription =
    "vrtrain bench: time complete training steps (forward, backward, AdamW update) on random inputs.";

const char* kFooter = R"(The run is configured as training is: --config FILE and --set key=value (model.path, train.method,
train.dtype, train.gradient_checkpointing, selection.*, lora.*); the flags above are shorthands that win.
A layer list (--selection.layers or selection.layers) means selection.strategy=manual.

The model runs as training runs it (vrtrain train's prepare_run): the same attention backend (fused SDPA
on LibTorch 2.x, eager on 1.13), checkpointing and dtype.

Reports per configuration: median step time with min / max, tokens/s (merged tokens incl. image
positions; one process, so also tokens/s per rank), achieved FLOP/s and the FLOP count assumed, and memory:
CPU = resident set size after the forward pass minus before it (the activations and gradients alive at the
peak), plus process peak RSS. On CUDA also the fields of metrics.jsonl: GPU peak allocated and reserved
bytes (largest over the timed steps) and MFU = model FLOPs / median step time / train.peak_tflops, with the
model FLOPs the trainer uses (vr/model/lvlm_flops.h: backward only above the lowest trained layer, weight
gradients only for trained matrices, recompute not counted); docs/benchmarks.md states the formula.

FLOPs per step (N = B x merged tokens, P = LLM matrix parameters, Pt = trainable LLM matrix parameters,
Pv = vision parameters, Nv = image patches, L layers, H width, M merged length):
  LLM forward 2·P·N + attention 4·L·B·M²·H;  backward through activations 2·P·N + 8·L·B·M²·H;
  weight gradients 2·Pt·N;  gradient checkpointing re-runs the forward;  vision forward 2·Pv·Nv.
)";

struct BenchConfig {
  std::string name;
  vr::train::FreezeSpec spec;
};

struct Timing {
  std::vector<double> seconds;
  double rss_delta = 0;
  double flops = 0;        // the FLOP model's hardware count (backward through every layer, recompute included)
  double model_flops = 0;  // what the step must execute (MFU's numerator, as in metrics.jsonl)
  int64_t gpu_peak_allocated = -1, gpu_peak_reserved = -1;  // CUDA only: largest over the timed steps
};

struct Flags {
  int64_t batch = 4, text_tokens = 128, images = 1, steps = 10, warmup = 2, threads = 0;
  bool full = false, compare = false, checkpointing = false, bf16 = false, plan = false;
  std::string model, method, strategy, fraction, count, layers;
  vr::cli::ConfigFlags config;
};

void add_flags(CLI::App& app, Flags& f) {
  vr::cli::set_usage(app,
                     "vrtrain bench --model DIR [--batch B] [--text-tokens T] [--images-per-sample 1] [--steps K]\n"
                     "              [--warmup W] [--selection.strategy NAME [--selection.fraction F] | --full]\n"
                     "              [--method full|lora] [--gradient-checkpointing] [--bf16] [--threads N] [--compare]\n"
                     "              [--config FILE] [--set key=value ...]");
  app.add_option("--model", f.model, "HF llava-hf checkpoint (e.g. one written by `vrtrain make-tiny`); model.path")
      ->type_name("DIR");
  vr::cli::add_int_option(app, "--batch", f.batch, "samples per step (default 4)")->type_name("B");
  vr::cli::add_int_option(app, "--text-tokens", f.text_tokens,
                          "text tokens per sample (default 128); each image adds F-1 merged tokens")
      ->type_name("T");
  vr::cli::add_int_option(app, "--images-per-sample", f.images, "images per sample (default 1; 0 = text only)");
  vr::cli::add_int_option(app, "--steps", f.steps, "timed steps (default 10) after --warmup W untimed ones")->type_name("K");
  vr::cli::add_int_option(app, "--warmup", f.warmup, "untimed steps first (default 2)")->type_name("W");
  vr::cli::add_int_option(app, "--threads", f.threads, "CPU threads for LibTorch (default: its choice)");
  app.add_option("--selection.strategy", f.strategy, "selective run (default uniform, fraction 0.25)")->type_name("S");
  app.add_option("--selection.fraction", f.fraction, "as in a config")->type_name("F");
  app.add_option("--selection.count", f.count, "as in a config")->type_name("K");
  app.add_option("--selection.layers", f.layers, "as in a config, e.g. 1,5,9 (selects strategy manual)")
      ->type_name("LIST");
  app.add_flag("--full", f.full, "train every LLM layer instead");
  app.add_flag("--compare", f.compare, "run full and selective interleaved (one step each, alternating) and print ratios");
  app.add_option("--method", f.method,
                 "full (default) or lora: LoRA adapters on the selected layers (lora.*: r 128, alpha 256)\n"
                 "instead of full tensors")
      ->type_name("M");
  app.add_flag("--gradient-checkpointing", f.checkpointing, "recompute activations in backward");
  app.add_flag("--bf16", f.bf16, "bf16 compute (train.dtype=bf16)");
  app.add_flag("--plan", f.plan,
               "print the memory plan of the configured run from shapes and stop: no weights loaded, no data read;\n"
               "--model may name a configuration (bunny-llama-3-8b-v, llava-1.5-7b, llava-1.5-13b); micro-batch\n"
               "train.batch_size x data.model_max_length merged tokens (train/memory_plan.h)");
  vr::cli::add_config_flags(app, f.config);
}

// The flags as key=value assignments of the run's config source (they win over --config and --set).
std::vector<std::string> flag_assignments(const Flags& f) {
  std::vector<std::string> extra;
  if (!f.model.empty()) extra.push_back("model.path=" + f.model);
  if (!f.method.empty()) extra.push_back("train.method=" + f.method);
  if (f.checkpointing) extra.push_back("train.gradient_checkpointing=true");
  if (f.bf16) extra.push_back("train.dtype=bf16");
  if (!f.strategy.empty()) extra.push_back("selection.strategy=" + f.strategy);
  if (!f.fraction.empty()) extra.push_back("selection.fraction=" + f.fraction);
  if (!f.count.empty()) extra.push_back("selection.count=" + f.count);
  if (!f.layers.empty()) extra.push_back("selection.layers=" + f.layers);
  if (f.plan) extra.insert(extra.end(), {"data.path=unused-by-plan", "data.image_folder=unused-by-plan"});  // reads none
  return extra;
}

// Random inputs: ids drawn from the byte range, one -200 image placeholder per image right after BOS.
vr::model::LvlmInputs random_inputs(const Flags& f, vr::model::LvlmImpl& m, const c10::Device& device) {
  const auto& mc = m.config();
  auto ids = torch::randint(3, std::min<int64_t>(mc.text.vocab_size, 256), {f.batch, f.text_tokens}, torch::kInt64);
  for (int64_t i = 0; i < f.images; ++i) ids.index_put_({torch::indexing::Slice(), 1 + i}, -200);
  auto labels = ids.clone().masked_fill_(ids.eq(-200), -100);
  vr::model::LvlmInputs in;
  in.input_ids = ids.to(device);
  in.labels = labels.to(device);
  in.attention_mask = torch::ones_like(ids).to(device);
  in.return_logits = false;  // as in training (LvlmTask): loss on supervised positions only, no [B,M,V] logits
  const int64_t S = mc.vision.image_size;
  if (f.images > 0)
    in.pixel_values =
        torch::randn({f.batch * f.images, 3, S, S}).to(device, m.language_model->lm_head->weight.scalar_type());
  return in;
}

// The FLOP model's shape of the model and inputs (vr/model/flops.h), trainable matrices not yet counted.
vr::model::StepFlopsShape flops_shape(const Flags& f, vr::model::LvlmImpl& m, bool checkpointing) {
  const auto& mc = m.config();
  const int64_t F = mc.image_seq_length();
  vr::model::StepFlopsShape shape{f.batch, f.text_tokens + f.images * (F - 1), f.images, F,
                                  mc.text.num_hidden_layers, mc.text.hidden_size, 0, 0, 0, checkpointing};
  for (auto& kv : m.named_parameters()) {
    auto info = vr::train::classify_param(kv.key());
    if (info.role == vr::train::ParamRole::Layer && kv.value().dim() == 2 && !info.is_lora)
      shape.llm_matrix_params += kv.value().numel();
    if (info.role == vr::train::ParamRole::LmHead) shape.llm_matrix_params += kv.value().numel();
    if (info.role == vr::train::ParamRole::VisionTower) shape.vision_params += kv.value().numel();
  }
  return shape;
}

// One AdamW per configuration over its trainable parameters; each configuration's FLOPs per step, printed.
std::vector<std::unique_ptr<vr::train::AdamW>> set_up(vr::model::LvlmImpl& m, const std::vector<BenchConfig>& configs,
                                                      vr::model::StepFlopsShape shape, std::vector<Timing>& timings) {
  std::vector<std::unique_ptr<vr::train::AdamW>> opts;
  for (size_t c = 0; c < configs.size(); ++c) {
    auto summary = vr::train::apply_freeze(m, configs[c].spec);
    vr::train::ParamGroup g{"all", 1e-5, 0.0, {}, {}};
    shape.trainable_matrix_params = 0;
    for (auto& kv : m.named_parameters())
      if (kv.value().requires_grad()) {
        g.names.push_back(kv.key());
        g.params.push_back(kv.value());
        auto info = vr::train::classify_param(kv.key());
        if (info.role == vr::train::ParamRole::Layer && kv.value().dim() == 2)
          shape.trainable_matrix_params += kv.value().numel();
      }
    opts.push_back(std::make_unique<vr::train::AdamW>(std::vector<vr::train::ParamGroup>{g}));
    timings[c].flops = vr::model::training_step_flops(shape);
    timings[c].model_flops = vr::model::lvlm_step_model_flops(m, shape.batch * shape.merged_tokens, shape.batch,
                                                              shape.batch * shape.images_per_sample);
    std::printf("%-40s trainable %lld of %lld parameters (%.2f%%), assumed %.3g FLOP/step (model FLOPs %.3g)\n",
                configs[c].name.c_str(), static_cast<long long>(summary.trainable_numel),
                static_cast<long long>(summary.total_numel),
                100.0 * summary.trainable_numel / std::max<int64_t>(1, summary.total_numel), timings[c].flops,
                timings[c].model_flops);
  }
  return opts;
}

// warmup + steps rounds, one step of every configuration per round (interleaved).
void time_steps(const Flags& f, vr::model::LvlmImpl& m, const vr::model::LvlmInputs& in, const c10::Device& device,
                const std::vector<BenchConfig>& configs, std::vector<std::unique_ptr<vr::train::AdamW>>& opts,
                std::vector<Timing>& timings) {
  m.train();
  const int cuda = device.is_cuda() ? std::max<int>(0, device.index()) : -1;
  for (int64_t s = 0; s < f.warmup + f.steps; ++s) {
    for (size_t c = 0; c < configs.size(); ++c) {
      vr::train::apply_freeze(m, configs[c].spec);
      if (cuda >= 0) vr::compat::cuda_reset_peak_stats(cuda);
      const int64_t rss0 = vr::current_rss_bytes();
      const auto t0 = std::chrono::steady_clock::now();
      auto out = m.forward(in);
      const int64_t rss1 = vr::current_rss_bytes();
      out.loss.backward();
      opts[c]->step(1.0);
      opts[c]->zero_grad();
      vr::synchronize_device(device);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s >= f.warmup) {
        timings[c].seconds.push_back(dt);
        timings[c].rss_delta = std::max(timings[c].rss_delta, static_cast<double>(rss1 - rss0));
        if (cuda >= 0) {
          timings[c].gpu_peak_allocated =
              std::max(timings[c].gpu_peak_allocated, vr::compat::cuda_peak_allocated_bytes(cuda));
          timings[c].gpu_peak_reserved =
              std::max(timings[c].gpu_peak_reserved, vr::compat::cuda_peak_reserved_bytes(cuda));
        }
      }
    }
  }
}

void print_timings(const Flags& f, const vr::model::StepFlopsShape& shape, const std::vector<BenchConfig>& configs,
                   const std::vector<Timing>& timings, double peak_tflops) {
  const int64_t merged = shape.merged_tokens;
  std::printf("\nbatch %lld x %lld merged tokens (%lld text + %lld images x %lld), %lld steps after %lld warmup, %d threads\n",
              static_cast<long long>(f.batch), static_cast<long long>(merged), static_cast<long long>(f.text_tokens),
              static_cast<long long>(f.images), static_cast<long long>(shape.image_tokens),
              static_cast<long long>(f.steps), static_cast<long long>(f.warmup), at::get_num_threads());
  std::vector<double> medians;
  for (size_t c = 0; c < configs.size(); ++c) {
    auto t = timings[c].seconds;
    std::sort(t.begin(), t.end());
    double med = t[t.size() / 2];
    medians.push_back(med);
    std::string gpu;  // the metrics.jsonl fields of a CUDA step
    if (timings[c].gpu_peak_allocated >= 0)
      gpu = fmt::format(" | GPU {} peak ({} reserved) | MFU {:.1f}% of {:g} TFLOP/s",
                        vr::format_bytes(static_cast<uint64_t>(timings[c].gpu_peak_allocated)),
                        vr::format_bytes(static_cast<uint64_t>(timings[c].gpu_peak_reserved)),
                        100.0 * timings[c].model_flops / med / (peak_tflops * 1e12), peak_tflops);
    std::printf("%-40s step %.4f s (min %.4f, max %.4f) | %.0f tok/s | %.3g FLOP/s (model %.3g) | forward RSS +%s%s\n",
                configs[c].name.c_str(), med, t.front(), t.back(), f.batch * merged / med, timings[c].flops / med,
                timings[c].model_flops / med, vr::format_bytes(static_cast<uint64_t>(timings[c].rss_delta)).c_str(),
                gpu.c_str());
  }
  if (configs.size() == 2)
    std::printf("ratio selective / full: step time %.3f, forward RSS %.3f\n", medians[1] / medians[0],
                timings[0].rss_delta > 0 ? timings[1].rss_delta / timings[0].rss_delta : 0.0);
  std::printf("process peak RSS %s\n", vr::format_bytes(static_cast<uint64_t>(vr::peak_rss_bytes())).c_str());
}

int run_bench(const std::vector<std::string>& args) {
  vr::train::RunConfig cfg;  // bench's defaults; --config files and flags override them
  cfg.train.stage = "sft";
  cfg.output_dir = "/tmp/vrtrain-bench";
  cfg.train.export_final = false;
  Flags f;
  CLI::App app = vr::cli::make_app("bench", kDescription, kFooter);
  add_flags(app, f);
  if (auto code = vr::cli::parse(app, args)) return *code;
  if (f.model.empty() && f.config.files.empty() &&
      std::none_of(f.config.sets.begin(), f.config.sets.end(),
                   [](const std::string& a) { return a.rfind("model.path=", 0) == 0; }))
    return vr::cli::usage_error(app, "--model DIR is required (or model.path from --config / --set)");
  if (f.batch <= 0 || f.text_tokens <= 1 || f.steps <= 0 || f.images < 0)
    return vr::cli::usage_error(app, "--batch, --text-tokens, --steps must be positive");
  if (f.full && f.compare)
    return vr::cli::usage_error(app, "--compare already runs --full and the selective configuration");
  vr::cli::apply_config_flags(cfg, f.config, flag_assignments(f));
  if (f.plan) {
    std::printf("%s", vr::train::shape_only_plan_report(cfg).c_str());
    return 0;
  }
  vr::apply_thread_policy(f.threads);
  torch::manual_seed(0);

  const vr::train::RunContext ctx = vr::train::make_run_context(cfg);
  vr::train::PreparedRun run = vr::train::prepare_run(cfg, ctx, 0);
  auto& m = **run.model;
  std::vector<BenchConfig> configs;
  vr::train::RunConfig full_cfg = cfg;  // the same run tuning every layer with full tensors
  full_cfg.train.stage = "full";
  full_cfg.train.method = "full";
  if (f.compare || f.full) configs.push_back({"full", vr::train::freeze_spec(full_cfg, {})});
  if (f.compare || !f.full)
    configs.push_back({fmt::format("sft {} [{}]", cfg.selection.strategy, fmt::join(run.layers, ",")),
                       vr::train::freeze_spec(cfg, run.layers)});
  const vr::model::LvlmInputs in = random_inputs(f, m, ctx.device);
  const vr::model::StepFlopsShape shape = flops_shape(f, m, cfg.train.gradient_checkpointing);
  std::vector<Timing> timings(configs.size());
  auto opts = set_up(m, configs, shape, timings);
  time_steps(f, m, in, ctx.device, configs, opts, timings);
  print_timings(f, shape, configs, timings, cfg.train.peak_tflops);
  return 0;
}

vr::cli::Registration registration_bench{"bench", "Time training steps (full vs selective) on random inputs", &run_bench};

}  // namespace cmd_bench
