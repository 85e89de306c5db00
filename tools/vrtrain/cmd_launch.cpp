// `vrtrain launch`: start the ranks of one node of a data-parallel job, without Python (what torchrun does for
// a static job). Each rank is `<this vrtrain> <command...>` with RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT set; its stdout and stderr lines come out prefixed
// "[rank R] ". SIGINT / SIGTERM are forwarded to every rank. When a rank fails, the others get SIGTERM (SIGKILL
// 10 s later) and launch exits with the failed rank's status (128 + signal for a rank killed by a signal).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_launch {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription = "vrtrain launch: start the ranks of a data-parallel job on this machine (one node of several).";

const char* kFooter =
    "Everything after -- is the command each rank runs (a vrtrain command and its flags).\n"
    "Example: vrtrain launch --nproc-per-node 2 -- train --config configs/tiny_synthetic.yaml\n"
    "Output lines are prefixed [rank R]. Exit status: 0 when every rank succeeded, else the first failing rank's.\n";

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

struct Rank {
  pid_t pid = -1;
  int fd = -1;          // read end of its stdout+stderr pipe
  std::string pending;  // partial line
  bool done = false;
  int status = 0;
};

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void emit(int64_t rank, const std::string& line) {
  std::string out = fmt::format("[rank {}] {}\n", rank, line);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

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

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Rank> ranks(static_cast<size_t>(nproc));
  for (int64_t l = 0; l < nproc; ++l) {
    int p[2];
    VR_CHECK(pipe(p) == 0, "vrtrain launch: pipe() failed");
    const int64_t rank = node_rank * nproc + l;
    pid_t pid = fork();
    VR_CHECK(pid >= 0, "vrtrain launch: fork() failed");
    if (pid == 0) {
      dup2(p[1], 1);
      dup2(p[1], 2);
      close(p[0]);
      close(p[1]);
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(l).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("GROUP_RANK", std::to_string(node_rank).c_str(), 1);
      setenv("MASTER_ADDR", addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      const char* name = "vrtrain";
      argv.push_back(const_cast<char*>(name));
      for (auto& c : cmd) argv.push_back(const_cast<char*>(c.c_str()));
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      std::fprintf(stderr, "vrtrain launch: exec %s failed\n", exe.c_str());
      _exit(127);
    }
    close(p[1]);
    ranks[static_cast<size_t>(l)].pid = pid;
    ranks[static_cast<size_t>(l)].fd = p[0];
  }

  int result = 0;
  int64_t failed = -1;
  bool killing = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  auto signal_all = [&](int sig) {
    for (auto& r : ranks)
      if (!r.done) kill(r.pid, sig);
  };
  size_t alive = ranks.size();
  auto pipes_open = [&] {
    for (auto& r : ranks)
      if (r.fd >= 0) return true;
    return false;
  };
  while (alive > 0 || pipes_open()) {
    if (g_signal) {
      std::fprintf(stderr, "vrtrain launch: got signal %d, forwarding it to the ranks\n", static_cast<int>(g_signal));
      signal_all(g_signal);
      if (!killing) kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      killing = true;
      if (result == 0) result = 128 + g_signal;
      g_signal = 0;
    }
    if (killing && std::chrono::steady_clock::now() > kill_deadline) signal_all(SIGKILL);
    std::vector<pollfd> fds;
    for (auto& r : ranks)
      if (r.fd >= 0) fds.push_back({r.fd, POLLIN, 0});
    if (!fds.empty()) poll(fds.data(), fds.size(), 200);
    else usleep(100 * 1000);
    for (size_t l = 0; l < ranks.size(); ++l) {
      Rank& r = ranks[l];
      const int64_t rank = node_rank * nproc + static_cast<int64_t>(l);
      if (r.fd >= 0) {
        pollfd one{r.fd, POLLIN, 0};
        if (poll(&one, 1, 0) > 0) {
          char buf[65536];
          ssize_t n = read(r.fd, buf, sizeof buf);
          if (n <= 0) {
            if (!r.pending.empty()) emit(rank, r.pending);
            r.pending.clear();
            close(r.fd);
            r.fd = -1;
          } else {
            r.pending.append(buf, static_cast<size_t>(n));
            for (size_t nl; (nl = r.pending.find('\n')) != std::string::npos;) {
              emit(rank, r.pending.substr(0, nl));
              r.pending.erase(0, nl + 1);
            }
          }
        }
      }
      if (!r.done) {
        int st = 0;
        if (waitpid(r.pid, &st, WNOHANG) == r.pid) {
          r.done = true;
          r.status = st;
          --alive;
          const int code = exit_code_of(st);
          if (code != 0 && failed < 0 && !killing) {
            failed = rank;
            result = code;
            std::fprintf(stderr, "vrtrain launch: rank %lld (pid %d) exited with status %d; stopping the other ranks\n",
                         static_cast<long long>(rank), static_cast<int>(r.pid), code);
            std::fflush(stderr);
            killing = true;
            signal_all(SIGTERM);
            kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          }
        }
      }
    }
  }
  for (auto& r : ranks)  // drain what is left in the pipes
    if (r.fd >= 0) close(r.fd);
  return result;
}

vr::cli::Registration registration_launch{"launch", "Start N ranks of a data-parallel job on this node (like torchrun)", &run_launch};

}  // namespace cmd_launch
