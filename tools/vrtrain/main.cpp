// vrtrain: train vision-language models with selective ("visual region") layer tuning.
// Thin dispatcher: every subcommand is a cmd_<name>.cpp file over the vr library.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <unistd.h>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/version.h"
#include "vrtrain/command.h"

namespace vr::cli {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

Registration::Registration(std::string name, std::string summary, CommandFn run) {
  commands().push_back({std::move(name), std::move(summary), std::move(run)});
}

std::string self_executable() {
  VR_CHECK(access("/proc/self/exe", X_OK) == 0, "vrtrain: cannot find its own executable (/proc/self/exe)");
  return "/proc/self/exe";
}

static void print_usage() {
  std::printf(
      "vrtrain %s: train vision-language models by tuning a sparse 'visual region' of LLM layers.\n\n"
      "Usage:\n"
      "  vrtrain --config FILE [--set key=value ...]   train (same as `vrtrain train`)\n"
      "  vrtrain <command> [options]                  run a command; `vrtrain <command> --help` explains it\n\n"
      "Commands:\n",
      VR_VERSION_STRING);
  auto cmds = commands();
  std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  for (const auto& c : cmds) std::printf("  %-14s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf("\nExample: vrtrain --config configs/tiny_synthetic.yaml\n");
}

}  // namespace vr::cli

int main(int argc, char** argv) {
  using namespace vr::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    // What a bug report needs: the build's LibTorch and GPU stack, and what this process can see.
    std::printf("vrtrain %s\nLibTorch %s: %s\nBLAS: %s\ndevices:\n", VR_VERSION_STRING,
                vr::compat::torch_version().c_str(), vr::compat::gpu_stack_description().c_str(),
                vr::compat::blas_kind().c_str());
    std::string devices = vr::compat::visible_devices_description();
    for (size_t at = 0, nl; at <= devices.size(); at = nl + 1) {
      nl = devices.find('\n', at);
      if (nl == std::string::npos) nl = devices.size();
      std::printf("  %s\n", devices.substr(at, nl - at).c_str());
    }
    return 0;
  }
  std::string name = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (name.rfind("--", 0) == 0) {  // `vrtrain --config x.yaml` is `vrtrain train --config x.yaml`
    name = "train";
    rest = args;
  }
  for (const auto& c : commands()) {
    if (c.name != name) continue;
    try {
      return c.run(rest);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vrtrain %s: error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "vrtrain: unknown command '%s' (see `vrtrain --help`)\n", name.c_str());
  return 2;
}
