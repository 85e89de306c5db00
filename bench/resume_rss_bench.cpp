// Host memory of resuming a training checkpoint (docs/benchmarks.md, "Resume: host memory").
//
//   resume_rss_bench DIR [--gib 2]   writes a checkpoint of ~2 GiB into DIR (fp32 trainable tensors + AdamW state:
//                                    S = 16 bytes x N), then resumes it twice, each in a fresh process:
//                                    "streaming" (vrtrain's resume: views on the mapped files, each tensor
//                                    released once copied) and "clone" (the old resume: every tensor read into
//                                    host memory first), and prints the peak RSS each added to the process.
//
// The model and optimizer state the resume fills are allocated before the measurement starts (on a GPU they live
// in device memory); the figure is what resuming itself adds on the host: peak RSS - RSS before the resume.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <torch/torch.h>

#include "vr/core/process_memory.h"
#include "vr/core/safetensors.h"
#include "vr/train/optimizer.h"
#include "vr/train/train_state.h"

namespace fs = std::filesystem;

namespace {

// 16 fp32 matrices of [rows, 4096]: N = 16 · rows · 4096 elements.
struct Model : torch::nn::Module {
  explicit Model(int64_t rows) {
    for (int i = 0; i < 16; ++i)
      weights.push_back(register_parameter(fmt::format("layers.{}.weight", i), torch::zeros({rows, 4096})));
  }
  std::vector<at::Tensor> weights;
};

vr::train::AdamW make_optimizer(Model& m) {
  vr::train::ParamGroup g{"llm", 1e-3, 0.0, {}, {}};
  for (auto& kv : m.named_parameters()) {
    g.names.push_back(kv.key());
    g.params.push_back(kv.value());
  }
  return vr::train::AdamW({g});
}

int64_t rows_for(double gib) { return static_cast<int64_t>(gib * (1ull << 30) / 16 / 16 / 4096); }

void write_checkpoint(const std::string& dir, int64_t rows) {
  torch::manual_seed(0);
  Model m(rows);
  vr::train::AdamW opt = make_optimizer(m);
  for (auto& w : m.weights) w.mutable_grad() = torch::randn_like(w);
  opt.step(1.0);  // moments and weights not zero
  vr::train::TrainCheckpoint c;
  for (auto& kv : m.named_parameters()) c.trainable[kv.key()] = kv.value().detach();
  c.optimizer = opt.state_dict();
  c.rng = vr::train::capture_rng_state();
  c.state = {{"step", 1}, {"data", nlohmann::json::object()}};
  vr::train::save_train_checkpoint(dir, 1, c, 1);
}

// In this (fresh) process: allocate, then resume and print the peak RSS the resume added.
int resume(const std::string& dir, int64_t rows, bool streaming) {
  Model m(rows);
  vr::train::AdamW opt = make_optimizer(m);
  const std::string ckpt = *vr::train::latest_checkpoint(dir);
  const int64_t before = vr::current_rss_bytes();
  if (!vr::reset_peak_rss()) std::fprintf(stderr, "warning: cannot reset VmHWM; the figure includes set-up\n");
  if (streaming) {
    vr::train::TrainCheckpoint c = vr::train::load_train_checkpoint(ckpt);
    vr::train::load_trainable_weights(m, c, ckpt);
    opt.load_state_dict(c.optimizer, [&c](const std::string& key) { c.release_optimizer(key); });
  } else {
    std::map<std::string, at::Tensor> trainable, state;
    for (auto& kv : vr::load_safetensors(ckpt + "/trainable.safetensors")) trainable[kv.first] = kv.second.clone();
    for (auto& kv : vr::load_safetensors(ckpt + "/optimizer.safetensors")) state[kv.first] = kv.second.clone();
    torch::NoGradGuard no_grad;
    for (auto& kv : m.named_parameters()) kv.value().copy_(trainable.at(kv.key()));
    opt.load_state_dict(state);
  }
  const int64_t peak = vr::peak_rss_bytes();
  std::printf("%lld %lld\n", static_cast<long long>(before), static_cast<long long>(peak - before));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: resume_rss_bench DIR [--gib G]\n");
    return 2;
  }
  const std::string dir = argv[1];
  double gib = 2.0;
  std::string mode;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--gib") gib = std::atof(argv[i + 1]);
    if (std::string(argv[i]) == "--mode") mode = argv[i + 1];
  }
  torch::set_num_threads(1);
  const int64_t rows = rows_for(gib);
  if (!mode.empty()) return resume(dir, rows, mode == "streaming");
  write_checkpoint(dir, rows);
  const std::string ckpt = *vr::train::latest_checkpoint(dir);
  const double s = static_cast<double>(fs::file_size(ckpt + "/trainable.safetensors") +
                                       fs::file_size(ckpt + "/optimizer.safetensors"));
  std::printf("checkpoint S = %.2f GiB (%lld trainable fp32 elements)\n", s / (1ull << 30),
              static_cast<long long>(16 * rows * 4096));
  for (const char* m : {"streaming", "clone"}) {
    const std::string cmd = fmt::format("{} {} --gib {} --mode {}", fs::canonical("/proc/self/exe").string(), dir, gib, m);
    FILE* p = ::popen(cmd.c_str(), "r");
    long long before = 0, added = 0;
    if (!p || std::fscanf(p, "%lld %lld", &before, &added) != 2) {
      std::fprintf(stderr, "%s: the resume process failed\n", m);
      return 1;
    }
    ::pclose(p);
    std::printf("%-9s  RSS before %.2f GiB, added by the resume %.3f GiB = %.3f x S\n", m,
                static_cast<double>(before) / (1ull << 30), static_cast<double>(added) / (1ull << 30),
                static_cast<double>(added) / s);
  }
  return 0;
}
