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

#include "vr/core/error.h"
#include "vr/model/lvlm.h"
#include "vr/core/device.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_context.h"
#include "vr/train/run_options.h"
#include "vr/train/metrics.h"
#include "vr/train/optimizer.h"
#include "vr/train/trainable_params.h"
#include "vrtrain/command.h"

namespace {

const char* kHelp =
    "vrtrain bench: time complete training steps (forward, backward, AdamW update) on random inputs.\n\n"
    "Usage: vrtrain bench --model DIR [--batch B] [--text-tokens T] [--images-per-sample 1] [--steps K]\n"
    "                     [--warmup W] [--selection.strategy NAME [--selection.fraction F] | --full]\n"
    "                     [--method full|lora] [--gradient-checkpointing] [--bf16] [--threads N] [--compare]\n\n"
    "  --model DIR             HF llava-hf checkpoint (e.g. one written by `vrtrain make-tiny`)\n"
    "  --batch B               samples per step (default 4)\n"
    "  --text-tokens T         text tokens per sample (default 128); each image adds F-1 merged tokens\n"
    "  --images-per-sample N   images per sample (default 1; 0 = text only)\n"
    "  --steps K               timed steps (default 10) after --warmup W untimed ones (default 2)\n"
    "  --selection.strategy S  selective run (default uniform, fraction 0.25); --selection.fraction F,\n"
    "                          --selection.count K, --selection.layers 1,5,9 as in a config\n"
    "  --full                  train every LLM layer instead\n"
    "  --compare               run full and selective interleaved (one step each, alternating) and print ratios\n"
    "  --method lora           LoRA adapters on the selected layers (r 128, alpha 256) instead of full tensors\n\n"
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

int64_t current_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

int run_bench(const std::vector<std::string>& args) {
  vr::train::RunConfig cfg;
  cfg.train.stage = "sft";
  cfg.output_dir = "/tmp/vrtrain-bench";
  cfg.train.export_final = false;
  int64_t batch = 4, text_tokens = 128, images = 1, steps = 10, warmup = 2, threads = 0;
  bool full = false, compare = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      VR_CHECK(i + 1 < args.size(), "bench: {} needs a value", a);
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    } else if (a == "--model") cfg.model.path = value();
    else if (a == "--batch") batch = std::stoll(value());
    else if (a == "--text-tokens") text_tokens = std::stoll(value());
    else if (a == "--images-per-sample") images = std::stoll(value());
    else if (a == "--steps") steps = std::stoll(value());
    else if (a == "--warmup") warmup = std::stoll(value());
    else if (a == "--threads") threads = std::stoll(value());
    else if (a == "--full") full = true;
    else if (a == "--compare") compare = true;
    else if (a == "--gradient-checkpointing") cfg.train.gradient_checkpointing = true;
    else if (a == "--bf16") cfg.train.dtype = "bf16";
    else if (a == "--method") cfg.train.method = value();
    else if (a == "--selection.strategy") cfg.selection.strategy = value();
    else if (a == "--selection.fraction") cfg.selection.fraction = std::stod(value());
    else if (a == "--selection.count") cfg.selection.count = std::stoll(value());
    else if (a == "--selection.layers") {
      cfg.selection.layers.clear();
      std::string v = value();
      for (size_t p = 0; p < v.size();) {
        size_t q = v.find(',', p);
        cfg.selection.layers.push_back(std::stoll(v.substr(p, q - p)));
        p = q == std::string::npos ? v.size() : q + 1;
      }
    } else VR_FAIL("bench: unknown option '{}' (see vrtrain bench --help)", a);
  }
  VR_CHECK(!cfg.model.path.empty(), "bench: --model DIR is required");
  VR_CHECK(batch > 0 && text_tokens > 1 && steps > 0 && images >= 0, "bench: --batch, --text-tokens, --steps must be positive");
  VR_CHECK(!(full && compare), "bench: --compare already runs --full and the selective configuration");
  if (cfg.train.method == "lora") cfg.lora.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
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
      const int64_t rss0 = current_rss_bytes();
      const auto t0 = std::chrono::steady_clock::now();
      auto out = m.forward(in);
      const int64_t rss1 = current_rss_bytes();
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
  std::printf("process peak RSS %s\n", vr::train::format_bytes(static_cast<double>(vr::train::peak_rss_bytes())).c_str());
  return 0;
}

vr::cli::Registration reg{"bench", "Time training steps (full vs selective) on random inputs", &run_bench};

}  // namespace
