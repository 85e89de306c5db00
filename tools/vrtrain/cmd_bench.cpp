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

#include "vr/core/torch_compat.h"
#include "vr/core/error.h"
#include "vr/model/lvlm.h"
#include "vr/core/device.h"
#include "vr/core/process_memory.h"
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

const char* kFooter =
    "The run is configured as training is: --config FILE and --set key=value (model.path, train.method,\n"
    "train.dtype, train.gradient_checkpointing, selection.*, lora.*); the flags above are shorthands that win.\n"
    "A layer list (--selection.layers or selection.layers) means selection.strategy=manual.\n\n"
    "Reports per configuration: median step time with min / max, tokens/s (merged tokens incl. image\n"
    "positions), achieved FLOP/s and the FLOP count assumed, and memory: CPU = resident set size after the\n"
    "forward pass minus before it (the activations and gradients alive at the peak), plus process peak RSS.\n\n"
    "FLOPs per step (N = B x merged tokens, P = LLM matrix parameters, Pt = trainable LLM matrix parameters,\n"
    "Pv = vision parameters, Nv = image patches, L layers, H width, M merged length):\n"
    "  LLM forward 2·P·N + attention 4·L·B·M²·H;  backward through activations 2·P·N + 8·L·B·M²·H;\n"
    "  weight gradients 2·Pt·N;  gradient checkpointing re-runs the forward;  vision forward 2·Pv·Nv.\n";

struct BenchConfig {
  std::string name;
  vr::train::FreezeSpec spec;
};

struct Timing {
  std::vector<double> seconds;
  double rss_delta = 0;
  double flops = 0;
};

int run_bench(const std::vector<std::string>& args) {
  vr::train::RunConfig cfg;  // bench's defaults; --config files and flags override them
  cfg.train.stage = "sft";
  cfg.output_dir = "/tmp/vrtrain-bench";
  cfg.train.export_final = false;
  int64_t batch = 4, text_tokens = 128, images = 1, steps = 10, warmup = 2, threads = 0;
  bool full = false, compare = false, checkpointing = false, bf16 = false, plan = false;
  std::string model, method, strategy, fraction, count, layers;
  vr::cli::ConfigFlags config;
  CLI::App app = vr::cli::make_app("bench", kDescription, kFooter);
  vr::cli::set_usage(app,
                     "vrtrain bench --model DIR [--batch B] [--text-tokens T] [--images-per-sample 1] [--steps K]\n"
                     "              [--warmup W] [--selection.strategy NAME [--selection.fraction F] | --full]\n"
                     "              [--method full|lora] [--gradient-checkpointing] [--bf16] [--threads N] [--compare]\n"
                     "              [--config FILE] [--set key=value ...]");
  app.add_option("--model", model, "HF llava-hf checkpoint (e.g. one written by `vrtrain make-tiny`); model.path")
      ->type_name("DIR");
  vr::cli::add_int_option(app, "--batch", batch, "samples per step (default 4)")->type_name("B");
  vr::cli::add_int_option(app, "--text-tokens", text_tokens,
                          "text tokens per sample (default 128); each image adds F-1 merged tokens")
      ->type_name("T");
  vr::cli::add_int_option(app, "--images-per-sample", images, "images per sample (default 1; 0 = text only)");
  vr::cli::add_int_option(app, "--steps", steps, "timed steps (default 10) after --warmup W untimed ones")->type_name("K");
  vr::cli::add_int_option(app, "--warmup", warmup, "untimed steps first (default 2)")->type_name("W");
  vr::cli::add_int_option(app, "--threads", threads, "CPU threads for LibTorch (default: its choice)");
  app.add_option("--selection.strategy", strategy, "selective run (default uniform, fraction 0.25)")->type_name("S");
  app.add_option("--selection.fraction", fraction, "as in a config")->type_name("F");
  app.add_option("--selection.count", count, "as in a config")->type_name("K");
  app.add_option("--selection.layers", layers, "as in a config, e.g. 1,5,9 (selects strategy manual)")
      ->type_name("LIST");
  app.add_flag("--full", full, "train every LLM layer instead");
  app.add_flag("--compare", compare, "run full and selective interleaved (one step each, alternating) and print ratios");
  app.add_option("--method", method,
                 "full (default) or lora: LoRA adapters on the selected layers (lora.*: r 128, alpha 256)\n"
                 "instead of full tensors")
      ->type_name("M");
  app.add_flag("--gradient-checkpointing", checkpointing, "recompute activations in backward");
  app.add_flag("--bf16", bf16, "bf16 compute (train.dtype=bf16)");
  app.add_flag("--plan", plan,
               "print the memory plan of the configured run from shapes and stop: no weights loaded, no data read;\n"
               "--model may name a configuration (bunny-llama-3-8b-v, llava-1.5-7b, llava-1.5-13b); micro-batch\n"
               "train.batch_size x data.model_max_length merged tokens (train/memory_plan.h)");
  vr::cli::add_config_flags(app, config);
  if (auto code = vr::cli::parse(app, args)) return *code;
  if (model.empty() && config.files.empty() &&
      std::none_of(config.sets.begin(), config.sets.end(), [](const std::string& a) { return a.rfind("model.path=", 0) == 0; }))
    return vr::cli::usage_error(app, "--model DIR is required (or model.path from --config / --set)");
  if (batch <= 0 || text_tokens <= 1 || steps <= 0 || images < 0)
    return vr::cli::usage_error(app, "--batch, --text-tokens, --steps must be positive");
  if (full && compare)
    return vr::cli::usage_error(app, "--compare already runs --full and the selective configuration");
  std::vector<std::string> extra;
  if (!model.empty()) extra.push_back("model.path=" + model);
  if (!method.empty()) extra.push_back("train.method=" + method);
  if (checkpointing) extra.push_back("train.gradient_checkpointing=true");
  if (bf16) extra.push_back("train.dtype=bf16");
  if (!strategy.empty()) extra.push_back("selection.strategy=" + strategy);
  if (!fraction.empty()) extra.push_back("selection.fraction=" + fraction);
  if (!count.empty()) extra.push_back("selection.count=" + count);
  if (!layers.empty()) extra.push_back("selection.layers=" + layers);
  if (plan) extra.insert(extra.end(), {"data.path=unused-by-plan", "data.image_folder=unused-by-plan"});  // reads none
  vr::cli::apply_config_flags(cfg, config, extra);
  if (plan) {
    std::printf("%s", vr::train::shape_only_plan_report(cfg).c_str());
    return 0;
  }
  if (threads > 0) vr::compat::set_cpu_threads(static_cast<int>(threads));  // LibTorch + OpenBLAS pool
  torch::manual_seed(0);

  const vr::train::RunContext ctx = vr::train::make_run_context(cfg);
  vr::train::PreparedRun run = vr::train::prepare_run(cfg, ctx, 0);
  auto& m = **run.model;
  const auto& mc = m.config();
  const int64_t L = mc.text.num_hidden_layers, H = mc.text.hidden_size, V = mc.text.vocab_size;
  const int64_t F = mc.image_seq_length();
  const int64_t merged = text_tokens + images * (F - 1);
  std::vector<BenchConfig> configs;
  vr::train::FreezeSpec sel = vr::train::freeze_spec(cfg, run.layers);
  vr::train::RunConfig full_cfg = cfg;  // the same run tuning every layer with full tensors
  full_cfg.train.stage = "full";
  full_cfg.train.method = "full";
  vr::train::FreezeSpec all = vr::train::freeze_spec(full_cfg, {});
  if (compare || full) configs.push_back({"full", all});
  if (compare || !full) configs.push_back({fmt::format("sft {} [{}]", cfg.selection.strategy, fmt::join(run.layers, ",")), sel});

  // Random inputs: ids drawn from the byte range, one -200 image placeholder per image right after BOS.
  const auto device = ctx.device;
  auto ids = torch::randint(3, std::min<int64_t>(V, 256), {batch, text_tokens}, torch::kInt64);
  for (int64_t i = 0; i < images; ++i) ids.index_put_({torch::indexing::Slice(), 1 + i}, -200);
  auto labels = ids.clone().masked_fill_(ids.eq(-200), -100);
  vr::model::LvlmInputs in;
  in.input_ids = ids.to(device);
  in.labels = labels.to(device);
  in.attention_mask = torch::ones_like(ids).to(device);
  in.return_logits = false;  // as in training (LvlmTask): loss on supervised positions only, no [B,M,V] logits
  const int64_t S = mc.vision.image_size;
  if (images > 0)
    in.pixel_values = torch::randn({batch * images, 3, S, S}).to(device, m.language_model->lm_head->weight.scalar_type());

  std::vector<std::unique_ptr<vr::train::AdamW>> opts;
  std::vector<Timing> timings(configs.size());
  int64_t llm_matrix = 0, vision_params = 0;
  for (auto& kv : m.named_parameters()) {
    auto info = vr::train::classify_param(kv.key());
    if (info.role == vr::train::ParamRole::Layer && kv.value().dim() == 2 && !info.is_lora) llm_matrix += kv.value().numel();
    if (info.role == vr::train::ParamRole::LmHead) llm_matrix += kv.value().numel();
    if (info.role == vr::train::ParamRole::VisionTower) vision_params += kv.value().numel();
  }
  for (size_t c = 0; c < configs.size(); ++c) {
    auto summary = vr::train::apply_freeze(m, configs[c].spec);
    vr::train::ParamGroup g{"all", 1e-5, 0.0, {}, {}};
    int64_t trainable_matrix = 0;
    for (auto& kv : m.named_parameters())
      if (kv.value().requires_grad()) {
        g.names.push_back(kv.key());
        g.params.push_back(kv.value());
        auto info = vr::train::classify_param(kv.key());
        if (info.role == vr::train::ParamRole::Layer && kv.value().dim() == 2) trainable_matrix += kv.value().numel();
      }
    opts.push_back(std::make_unique<vr::train::AdamW>(std::vector<vr::train::ParamGroup>{g}));
    const double N = static_cast<double>(batch * merged), M = static_cast<double>(merged);
    const double attn = 4.0 * L * batch * M * M * H;
    double flops = 2.0 * llm_matrix * N + attn + 2.0 * llm_matrix * N + 2.0 * attn + 2.0 * trainable_matrix * N +
                   2.0 * vision_params * static_cast<double>(batch * images * F);
    if (cfg.train.gradient_checkpointing) flops += 2.0 * llm_matrix * N + attn;
    timings[c].flops = flops;
    std::printf("%-40s trainable %lld of %lld parameters (%.2f%%), assumed %.3g FLOP/step\n", configs[c].name.c_str(),
                static_cast<long long>(summary.trainable_numel), static_cast<long long>(summary.total_numel),
                100.0 * summary.trainable_numel / std::max<int64_t>(1, summary.total_numel), flops);
  }
  m.train();
  for (int64_t s = 0; s < warmup + steps; ++s) {
    for (size_t c = 0; c < configs.size(); ++c) {
      vr::train::apply_freeze(m, configs[c].spec);
      const int64_t rss0 = vr::current_rss_bytes();
      const auto t0 = std::chrono::steady_clock::now();
      auto out = m.forward(in);
      const int64_t rss1 = vr::current_rss_bytes();
      out.loss.backward();
      opts[c]->step(1.0);
      opts[c]->zero_grad();
      vr::synchronize_device(device);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s >= warmup) {
        timings[c].seconds.push_back(dt);
        timings[c].rss_delta = std::max(timings[c].rss_delta, static_cast<double>(rss1 - rss0));
      }
    }
  }
  std::printf("\nbatch %lld x %lld merged tokens (%lld text + %lld images x %lld), %lld steps after %lld warmup, %d threads\n",
              static_cast<long long>(batch), static_cast<long long>(merged), static_cast<long long>(text_tokens),
              static_cast<long long>(images), static_cast<long long>(F), static_cast<long long>(steps),
              static_cast<long long>(warmup), at::get_num_threads());
  std::vector<double> medians;
  for (size_t c = 0; c < configs.size(); ++c) {
    auto t = timings[c].seconds;
    std::sort(t.begin(), t.end());
    double med = t[t.size() / 2];
    medians.push_back(med);
    std::printf("%-40s step %.4f s (min %.4f, max %.4f) | %.0f tok/s | %.3g FLOP/s | forward RSS +%s\n",
                configs[c].name.c_str(), med, t.front(), t.back(), batch * merged / med, timings[c].flops / med,
                vr::train::format_bytes(timings[c].rss_delta).c_str());
  }
  if (configs.size() == 2)
    std::printf("ratio selective / full: step time %.3f, forward RSS %.3f\n", medians[1] / medians[0],
                timings[0].rss_delta > 0 ? timings[1].rss_delta / timings[0].rss_delta : 0.0);
  std::printf("process peak RSS %s\n", vr::train::format_bytes(static_cast<double>(vr::peak_rss_bytes())).c_str());
  return 0;
}

vr::cli::Registration registration_bench{"bench", "Time training steps (full vs selective) on random inputs", &run_bench};

}  // namespace cmd_bench
