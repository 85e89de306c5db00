#include "vr/core/child_processes.h"

#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "vr/core/error.h"

namespace vr {

namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

struct SavedHandlers {
  struct sigaction int_action {}, term_action {};
};
SavedHandlers g_saved;

void print_line(const std::string& prefix, const std::string& line) {
  const std::string out = prefix + line + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

// In the child: stdout and stderr to `fd`, the environment, then exec (exit 127 when it fails).
[[noreturn]] void exec_child(const ChildSpec& spec, int fd) {
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  for (const auto& [key, value] : spec.env) setenv(key.c_str(), value.c_str(), 1);
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(spec.exe.c_str(), argv.data());
  std::fprintf(stderr, "exec %s failed\n", spec.exe.c_str());
  _exit(127);
}

}  // namespace

int exit_code_of_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

ChildProcesses::ChildProcesses() : ChildProcesses(Options{}) {}

ChildProcesses::ChildProcesses(Options options) : options_(std::move(options)) {
  if (!options_.forward_signals) return;
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_saved.int_action);
  sigaction(SIGTERM, &sa, &g_saved.term_action);
}

ChildProcesses::~ChildProcesses() {
  for (auto& c : children_)
    if (c.fd >= 0) close(c.fd);
  if (!options_.forward_signals) return;
  sigaction(SIGINT, &g_saved.int_action, nullptr);
  sigaction(SIGTERM, &g_saved.term_action, nullptr);
}

size_t ChildProcesses::start(const ChildSpec& spec) {
  int p[2] = {-1, -1};
  if (spec.log.empty()) VR_CHECK(pipe(p) == 0, "{}: pipe() failed", options_.name);
  else if (auto dir = std::filesystem::path(spec.log).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir);
  // Forwarding: SIGINT / SIGTERM stay blocked across fork, so one arriving now is either the parent's (and
  // forwarded) or, after the child's handlers are back to the default, the child's; never lost in between.
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  sigaddset(&forwarded, SIGINT);
  sigaddset(&forwarded, SIGTERM);
  if (options_.forward_signals) pthread_sigmask(SIG_BLOCK, &forwarded, &previous);
  const pid_t pid = fork();
  if (pid == 0) {
    if (options_.forward_signals) {
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
    if (p[0] >= 0) close(p[0]);
    exec_child(spec, spec.log.empty() ? p[1] : ::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644));
  }
  if (options_.forward_signals) pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  VR_CHECK(pid >= 0, "{}: fork() failed", options_.name);
  if (p[1] >= 0) close(p[1]);
  children_.push_back({pid, p[0], spec.prefix, "", false});
  return children_.size() - 1;
}

size_t ChildProcesses::running() const {
  size_t n = 0;
  for (const auto& c : children_) n += c.done ? 0 : 1;
  return n;
}

bool ChildProcesses::pipes_open() const {
  for (const auto& c : children_)
    if (c.fd >= 0) return true;
  return false;
}

void ChildProcesses::send_all(int sig) {
  for (const auto& c : children_)
    if (!c.done) kill(c.pid, sig);
}

void ChildProcesses::stop_all() {
  if (!stopping_) kill_deadline_ = std::chrono::steady_clock::now() + options_.kill_after;
  stopping_ = true;
  send_all(SIGTERM);
}

void ChildProcesses::check_signal() {
  if (g_signal && options_.forward_signals) {
    const int sig = g_signal;
    g_signal = 0;
    std::fprintf(stderr, "%s: got signal %d, forwarding it to the %s\n", options_.name.c_str(), sig,
                 options_.children.c_str());
    send_all(sig);
    if (!stopping_) kill_deadline_ = std::chrono::steady_clock::now() + options_.kill_after;
    stopping_ = true;
    if (signal_ == 0) signal_ = sig;
  }
  if (stopping_ && std::chrono::steady_clock::now() > kill_deadline_) send_all(SIGKILL);
}

void ChildProcesses::read_from(Child& c) {
  char buf[65536];
  const ssize_t n = read(c.fd, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    if (!c.pending.empty()) print_line(c.prefix, c.pending);
    c.pending.clear();
    close(c.fd);
    c.fd = -1;
    return;
  }
  c.pending.append(buf, static_cast<size_t>(n));
  for (size_t nl; (nl = c.pending.find('\n')) != std::string::npos;) {
    print_line(c.prefix, c.pending.substr(0, nl));
    c.pending.erase(0, nl + 1);
  }
}

void ChildProcesses::pump_output(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Child*> owners;
  for (auto& c : children_)
    if (c.fd >= 0) {
      fds.push_back({c.fd, POLLIN, 0});
      owners.push_back(&c);
    }
  if (fds.empty()) {
    usleep(static_cast<useconds_t>(timeout_ms) * 1000);
    return;
  }
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
  for (size_t i = 0; i < fds.size(); ++i)
    if (fds[i].revents != 0) read_from(*owners[i]);
}

// One ended child (without blocking), or nullopt.
std::optional<ChildProcesses::Exit> ChildProcesses::reap() {
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    int status = 0;
    if (c.done || waitpid(c.pid, &status, WNOHANG) != c.pid) continue;
    c.done = true;
    return Exit{i, c.pid, exit_code_of_status(status)};
  }
  return std::nullopt;
}

std::optional<ChildProcesses::Exit> ChildProcesses::wait_any() {
  for (;;) {
    check_signal();
    if (auto e = reap()) return e;
    if (running() == 0) {
      if (!pipes_open()) return std::nullopt;
      pump_output(200);
      continue;
    }
    if (pipes_open() || options_.forward_signals || stopping_) {
      pump_output(pipes_open() ? 200 : 100);
      continue;
    }
    // Only logged children and nothing to watch: sleep in waitpid until one of them ends.
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      VR_CHECK(errno == EINTR, "{}: waitpid() failed while {} processes were running", options_.name, running());
      continue;
    }
    for (size_t i = 0; i < children_.size(); ++i)
      if (!children_[i].done && children_[i].pid == pid) {
        children_[i].done = true;
        return Exit{i, pid, exit_code_of_status(status)};
      }
  }
}

}  // namespace vr
