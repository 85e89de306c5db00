// `vrtrain launch`: start the ranks of one node of a data-parallel job, without Python (what torchrun does for
// a static job). Each rank is `<this vrtrain> <command...>` with RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT set; its stdout and stderr lines come out prefixed
// "[rank R] ". SIGINT / SIGTERM are forwarded to every rank. When a rank fails, the others get SIGTERM (SIGKILL
// 10 s later) and launch exits with the failed rank's status (128 + signal for a rank killed by a signal).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vr/core/child_processes.h"
#include "vr/core/error.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_launch {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription = "vrtrain launch: start the ranks of a data-parallel job on this machine (one node of several).";

const char* kFooter = R"(Everything after -- is the command each rank runs (a vrtrain command and its flags).
Example: vrtrain launch --nproc-per-node 2 -- train --config configs/tiny_synthetic.yaml
Output lines are prefixed [rank R]. Exit status: 0 when every rank succeeded, else the first failing rank's.
)";

int run_launch(const std::vector<std::string>& args) {
  int64_t nproc = 1, nnodes = 1, node_rank = 0, port = 29500;
  std::string addr = "127.0.0.1";
  // The rank command follows the first "--" and is passed through untouched (its flags are not launch's).
  auto dashes = std::find(args.begin(), args.end(), std::string("--"));
  const std::vector<std::string> own(args.begin(), dashes);
  const std::vector<std::string> cmd(dashes == args.end() ? args.end() : dashes + 1, args.end());
  CLI::App app = vr::cli::make_app("launch", kDescription, kFooter);
  vr::cli::set_usage(app,
                     "vrtrain launch --nproc-per-node N [--nnodes M --node-rank K --master-addr H --master-port P] -- \\\n"
                     "               <vrtrain command and flags>");
  vr::cli::add_int_option(app, "--nproc-per-node", nproc, "ranks on this node (default 1)");
  vr::cli::add_int_option(app, "--nnodes", nnodes, "nodes in the job (default 1); world size = M x N")->type_name("M");
  vr::cli::add_int_option(app, "--node-rank", node_rank,
                          "this node's index 0..M-1 (default 0); its ranks are K*N .. K*N+N-1")
      ->type_name("K");
  app.add_option("--master-addr", addr, "host of rank 0 (default 127.0.0.1)")->type_name("H");
  vr::cli::add_int_option(app, "--master-port", port, "TCP port of rank 0's store (default 29500)")->type_name("P");
  if (auto code = vr::cli::parse(app, own)) return *code;
  if (cmd.empty())
    return vr::cli::usage_error(app, "no command after -- (e.g. vrtrain launch --nproc-per-node 2 -- train --config F)");
  if (nproc < 1 || nnodes < 1) return vr::cli::usage_error(app, "--nproc-per-node and --nnodes must be >= 1");
  if (node_rank < 0 || node_rank >= nnodes)
    return vr::cli::usage_error(app, fmt::format("--node-rank {} is outside 0..{}", node_rank, nnodes - 1));
  if (port <= 0 || port >= 65536)
    return vr::cli::usage_error(app, fmt::format("--master-port {} is outside 1..65535", port));
  const std::string exe = vr::cli::self_executable();
  const int64_t world = nproc * nnodes;

  vr::ChildProcesses ranks({/*forward_signals=*/true, std::chrono::seconds(10), "vrtrain launch", "ranks"});
  std::vector<int64_t> rank_of;
  for (int64_t l = 0; l < nproc; ++l) {
    const int64_t rank = node_rank * nproc + l;
    vr::ChildSpec spec{exe, {"vrtrain"}, {}, "", fmt::format("[rank {}] ", rank)};
    spec.argv.insert(spec.argv.end(), cmd.begin(), cmd.end());
    spec.env = {{"RANK", std::to_string(rank)},           {"WORLD_SIZE", std::to_string(world)},
                {"LOCAL_RANK", std::to_string(l)},        {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                {"GROUP_RANK", std::to_string(node_rank)}, {"MASTER_ADDR", addr},
                {"MASTER_PORT", std::to_string(port)}};
    ranks.start(spec);
    rank_of.push_back(rank);
  }
  int result = 0;
  while (const auto e = ranks.wait_any()) {
    if (e->code == 0 || result != 0 || ranks.stopping()) continue;
    result = e->code;
    std::fprintf(stderr, "vrtrain launch: rank %lld (pid %d) exited with status %d; stopping the other ranks\n",
                 static_cast<long long>(rank_of[e->child]), static_cast<int>(e->pid), e->code);
    std::fflush(stderr);
    ranks.stop_all();
  }
  return result == 0 && ranks.signal() != 0 ? 128 + ranks.signal() : result;
}

vr::cli::Registration registration_launch{"launch", "Start N ranks of a data-parallel job on this node (like torchrun)", &run_launch};

}  // namespace cmd_launch
