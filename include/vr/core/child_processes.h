// One supervisor for the child processes a command starts (`vrtrain launch`'s ranks, `vrtrain study`'s runs):
// start a program with extra environment variables, its stdout + stderr either appended to a log file or read
// through a pipe and printed line by line with a prefix ("[rank 1] ..."); wait for the next one to end; forward
// SIGINT / SIGTERM to the running ones; end the others on a failure (SIGTERM, SIGKILL after a grace period).
//
// Typical loop (launch):
//   vr::ChildProcesses kids({/*forward_signals=*/true});
//   for (...) kids.start({exe, args, env, /*log=*/"", fmt::format("[rank {}] ", r)});
//   while (auto e = kids.wait_any())
//     if (e->code != 0) kids.stop_all();
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vr {

struct ChildSpec {
  std::string exe;                 // the file executed
  std::vector<std::string> argv;   // argv[0] first (the name the child sees)
  std::vector<std::pair<std::string, std::string>> env;  // set in the child on top of this process's environment
  std::string log;                 // non-empty: stdout + stderr appended to this file (its folder is created)
  std::string prefix;              // log empty: each output line printed to stdout as prefix + line
};

// The exit code a shell reports for a wait() status: the exit status, or 128 + signal for a killed process.
int exit_code_of_status(int status);

class ChildProcesses {
 public:
  struct Options {
    // SIGINT / SIGTERM received by this process are forwarded to every running child, which are then ended as
    // by stop_all(); signal() tells which one arrived. The previous handlers come back with the destructor.
    bool forward_signals = false;
    std::chrono::seconds kill_after{10};  // stop_all(): SIGKILL this long after SIGTERM
    std::string name = "vrtrain";         // who speaks in the messages on stderr ("vrtrain launch: ...")
    std::string children = "children";    // what the children are called there ("the ranks")
  };
  struct Exit {
    size_t child = 0;  // the index start() returned
    pid_t pid = -1;
    int code = 0;      // exit_code_of_status
  };

  ChildProcesses();
  explicit ChildProcesses(Options options);
  ~ChildProcesses();  // restores the signal handlers; children still running are left running
  ChildProcesses(const ChildProcesses&) = delete;
  ChildProcesses& operator=(const ChildProcesses&) = delete;

  // fork + exec; returns the child's index (0, 1, ... in start order). vr::Error when fork or pipe fails; a child
  // whose exec fails exits 127.
  size_t start(const ChildSpec& spec);
  // Blocks until a child ends (printing piped output meanwhile) and returns it; nullopt when no child is running
  // and every pipe is drained.
  std::optional<Exit> wait_any();
  size_t running() const;
  // SIGTERM to every running child, SIGKILL `kill_after` later (while wait_any() runs).
  void stop_all();
  bool stopping() const { return stopping_; }
  int signal() const { return signal_; }  // the forwarded signal (0: none)

 private:
  struct Child {
    pid_t pid = -1;
    int fd = -1;  // read end of its output pipe; -1 when logged to a file or drained
    std::string prefix, pending;
    bool done = false;
  };
  void pump_output(int timeout_ms);
  void read_from(Child& c);
  void check_signal();
  std::optional<Exit> reap();
  void send_all(int sig);
  bool pipes_open() const;

  Options options_;
  std::vector<Child> children_;
  bool stopping_ = false;
  int signal_ = 0;
  std::chrono::steady_clock::time_point kill_deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace vr
