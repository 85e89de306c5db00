// Data-parallel runs of the real `vrtrain` binary on the tiny llava model (Gloo over loopback, synthetic shapes),
// shared by the data-parallel end-to-end tests: run it once or as 2 ranks, read the exported weights back, and
// measure how far two runs' weights are apart.
#pragma once
#include <map>
#include <string>

#include <ATen/Tensor.h>

namespace vr::test {

// The tiny llava model every data-parallel run trains (created once per test process, seed 5, 8 layers).
const std::string& ddp_tiny_model();

// `vrtrain train` flags of a 3-step run on ddp_tiny_model() writing to `out` with micro-batch `b` and accumulation
// `accum`, CPU, 1 thread, 30 s collective timeouts; `extra` is appended (later flags win).
std::string ddp_train_args(const std::string& out, int b, int accum, const std::string& extra = "");

struct Proc {
  int code = -1;      // exit status (-1: killed by a signal)
  std::string text;   // stdout + stderr
  double seconds = 0;
};

// `cmd` through /bin/sh with stdout and stderr into `log`, which is read back.
Proc run_shell(const std::string& cmd, const std::string& log);
// One process (`vrtrain train ...`) and two ranks (`vrtrain launch --nproc-per-node 2 -- train ...`).
Proc run_single(const std::string& out, int b, int accum, const std::string& extra = "");
Proc run_launch2(const std::string& out, int b, int accum, const std::string& extra = "");

// out/final/model.safetensors.
std::map<std::string, at::Tensor> final_weights(const std::string& out);
// max over tensors and elements of |a - b| (a tensor missing from either side fails the calling test).
double max_weight_diff(const std::map<std::string, at::Tensor>& a, const std::map<std::string, at::Tensor>& b);

}  // namespace vr::test
