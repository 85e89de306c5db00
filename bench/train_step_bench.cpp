// One side of bench/train_step_vs_hf.py: complete AdamW training steps (forward, loss, backward, update) of a
// llava-hf checkpoint on a saved batch, timed one by one; the Hugging Face side is bench/train_step_hf.py with the
// same arguments. Prints one JSON line (times, memory, first loss) for the driver; not run by ctest.
//
//   train_step_bench --model DIR --batch FILE.safetensors [--train full|L1,L2,...] [--steps K] [--warmup W]
//                    [--threads N [--blas-threads keep|M]] [--loss supervised|full-logits]
//                    [--attention eager|sdpa]
//
//   --train full      every parameter but the vision tower (LLaVA's fine-tuning); L1,L2,...: the projector and
//                     those LLM decoder layers only (selective tuning)
//   --loss            supervised (default, what `vrtrain train` runs: lm_head on supervised positions, chunked)
//                     or full-logits ([B,M,V] logits then the loss: the path before issue 13, HF's path)
//   --attention       eager (default on LibTorch 1.13) or sdpa (LibTorch >= 2.0: the default there)
//   --threads N       LibTorch intra-op threads via vr::compat::set_cpu_threads (0: vrtrain's default)
//   --blas-threads    with --threads: at::set_num_threads(N) alone, and the BLAS pool left as loaded ("keep",
//                     the behaviour before issue 13) or set to M threads (to measure the combinations)
// Memory: peak RSS of the process (VmHWM) minus RSS before the first step, i.e. what training adds on top of the
// loaded weights and batch (activations, gradients, AdamW state, temporaries), the same measure as the HF side.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/process_memory.h"
#include "vr/core/tensor_files.h"
#include "vr/core/torch_compat.h"
#include "vr/model/attention_backend.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/train/optimizer.h"

namespace {

// CPU seconds of the whole process (all threads, user + system): on a loaded shared machine this moves far less
// than wall time for single-threaded runs.
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  for (size_t p = 0; p <= s.size();) {
    size_t q = s.find(sep, p);
    if (q == std::string::npos) q = s.size();
    out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

int run(int argc, char** argv) {
  std::string model_dir, batch_file, train = "full", loss = "supervised", attention;
  std::string blas_threads;  // empty: vr::compat::set_cpu_threads decides; "keep": leave the BLAS pool alone
  int64_t steps = 3, warmup = 1, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      VR_CHECK(i + 1 < argc, "{} needs a value", a);
      return argv[++i];
    };
    if (a == "--model") model_dir = value();
    else if (a == "--batch") batch_file = value();
    else if (a == "--train") train = value();
    else if (a == "--steps") steps = std::stoll(value());
    else if (a == "--warmup") warmup = std::stoll(value());
    else if (a == "--threads") threads = std::stoll(value());
    else if (a == "--loss") loss = value();
    else if (a == "--attention") attention = value();
    else if (a == "--blas-threads") blas_threads = value();
    else VR_FAIL("unknown option '{}' (see the comment at the top of bench/train_step_bench.cpp)", a);
  }
  VR_CHECK(!model_dir.empty() && !batch_file.empty(), "--model DIR and --batch FILE are required");
  VR_CHECK(loss == "supervised" || loss == "full-logits", "--loss must be supervised or full-logits");
  if (threads > 0 && blas_threads.empty()) {
    vr::compat::set_cpu_threads(static_cast<int>(threads));
  } else if (threads > 0) {
    at::set_num_threads(static_cast<int>(threads));  // before issue 13: LibTorch's threads only
    if (blas_threads != "keep") vr::compat::set_blas_threads(std::stoi(blas_threads));
  }
  VR_CHECK(attention.empty() || attention == "eager" || attention == "sdpa", "--attention must be eager or sdpa");
  torch::manual_seed(0);

  vr::model::Lvlm m = vr::model::load_lvlm(model_dir, at::kFloat);
  {
    // Own the weights (safetensors loads are memory-mapped views): RSS then counts them before the first step,
    // as it does for transformers' from_pretrained.
    torch::NoGradGuard ng;
    for (auto& p : m->parameters()) p.set_data(p.clone());
  }
  vr::StateDict b = vr::load_tensors(batch_file);
  vr::model::LvlmInputs in;
  in.input_ids = b.at("input_ids").to(at::kLong);
  in.attention_mask = b.at("attention_mask").to(at::kLong);
  in.labels = b.at("labels").to(at::kLong);
  in.pixel_values = b.at("pixel_values").to(at::kFloat).clone();
  in.return_logits = loss == "full-logits";
  if (attention.empty()) attention = vr::compat::sdpa_available() ? "sdpa" : "eager";  // as LvlmTask
  vr::model::set_fused_attention(*m, attention == "sdpa");

  std::vector<int64_t> layers;
  if (train != "full")
    for (const auto& s : split(train, ',')) layers.push_back(std::stoll(s));
  vr::train::ParamGroup g{"all", 1e-5, 0.0, {}, {}};
  int64_t trainable = 0, total = 0;
  for (auto& kv : m->named_parameters()) {
    const std::string& n = kv.key();
    bool on = false;
    if (train == "full") {
      on = !starts_with(n, "vision_tower.");
    } else {
      on = starts_with(n, "multi_modal_projector.");
      for (int64_t l : layers) on = on || starts_with(n, fmt::format("language_model.model.layers.{}.", l));
    }
    kv.value().set_requires_grad(on);
    total += kv.value().numel();
    if (on) {
      trainable += kv.value().numel();
      g.names.push_back(n);
      g.params.push_back(kv.value());
    }
  }
  vr::train::AdamW opt({g});
  m->train();

  const int64_t rss_before = vr::current_rss_bytes();
  std::vector<double> times, cpu_times;
  double first_loss = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_seconds();
    auto out = m->forward(in);
    out.loss.backward();
    opt.step(1.0);
    opt.zero_grad();
    const double loss_value = out.loss.item<double>();  // the step's one host read (also ends the step on a GPU)
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s == 0) first_loss = loss_value;
    const double cpu = process_cpu_seconds() - c0;
    if (s >= warmup) {
      times.push_back(dt);
      cpu_times.push_back(cpu);
    }
  }
  const int64_t peak = vr::peak_rss_bytes();
  std::printf(
      "{\"framework\": \"vrtrain\", \"train\": \"%s\", \"loss_path\": \"%s\", \"attention\": \"%s\", \"threads\": %d, "
      "\"blas\": \"%s\", \"times\": [%s], \"cpu_times\": [%s], \"first_loss\": %.7f, \"rss_before_step\": %lld, \"peak_rss\": %lld, "
      "\"trainable\": %lld, \"total\": %lld, \"torch\": \"%s\"}\n",
      train.c_str(), loss.c_str(), attention.c_str(), at::get_num_threads(),
      vr::compat::cpu_threads_description().c_str(), fmt::format("{:.4f}", fmt::join(times, ", ")).c_str(),
      fmt::format("{:.4f}", fmt::join(cpu_times, ", ")).c_str(), first_loss, static_cast<long long>(rss_before),
      static_cast<long long>(peak), static_cast<long long>(trainable), static_cast<long long>(total),
      vr::compat::torch_version().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  return run(argc, argv);
} catch (const std::exception& e) {
  std::fprintf(stderr, "train_step_bench: %s\n", e.what());
  return 1;
}
