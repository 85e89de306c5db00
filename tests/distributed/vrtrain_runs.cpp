#include "distributed/vrtrain_runs.h"

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distributed/free_port.h"
#include "support/fixtures.h"
#include "support/tiny_models.h"
#include "vr/core/safetensors.h"
#include "vr/model/tiny_model.h"

namespace vr::test {

namespace fs = std::filesystem;

const std::string& ddp_tiny_model() { return vr::test::shared_tiny_model("llava", 5); }

std::string ddp_train_args(const std::string& out, int b, int accum, const std::string& extra) {
  return fmt::format(
      "train --config {}/configs/tiny_synthetic.yaml --set model.path={} --set output_dir={} "
      "--set train.batch_size={} --set train.grad_accum={} --set train.max_steps=3 --set train.save_every=0 "
      "--set train.device=cpu --set train.num_threads=1 --set data.num_workers=1 "
      "--set data.synthetic.num_samples=48 --set train.log_every=1 --set dist.timeout_s=30 "
      "--set dist.init_timeout_s=30 {}",
      VR_SOURCE_DIR, ddp_tiny_model(), out, b, accum, extra);
}

Proc run_shell(const std::string& cmd, const std::string& log) {
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(fmt::format("{} > {} 2>&1", cmd, log).c_str());
  Proc r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(log);
  r.text.assign(std::istreambuf_iterator<char>(f), {});
  return r;
}

Proc run_single(const std::string& out, int b, int accum, const std::string& extra) {
  return run_shell(fmt::format("{} {}", VRTRAIN_BIN, ddp_train_args(out, b, accum, extra)), out + ".log");
}

Proc run_launch2(const std::string& out, int b, int accum, const std::string& extra) {
  return run_shell(fmt::format("{} launch --nproc-per-node 2 --master-port {} -- {}", VRTRAIN_BIN, free_port(),
                               ddp_train_args(out, b, accum, extra)),
                   out + ".log");
}

std::map<std::string, at::Tensor> final_weights(const std::string& out) {
  return vr::load_safetensors((fs::path(out) / "final" / "model.safetensors").string());
}

double max_weight_diff(const std::map<std::string, at::Tensor>& a, const std::map<std::string, at::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      ADD_FAILURE() << k << " missing";
      continue;
    }
    m = std::max(m, (v.to(torch::kDouble) - it->second.to(torch::kDouble)).abs().max().item<double>());
  }
  return m;
}

}  // namespace vr::test
