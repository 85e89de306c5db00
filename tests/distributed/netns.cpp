#include "distributed/netns.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace vr::test {

namespace fs = std::filesystem;

namespace netns_detail {  // named: unity builds merge the anonymous namespaces of a batch

int sh(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace netns_detail

std::unique_ptr<TwoNodeNet> TwoNodeNet::create(std::string* why_not) {
  if (geteuid() != 0) {
    *why_not = "creating network namespaces needs root (CI runs the suite as root)";
    return nullptr;
  }
  if (netns_detail::sh("command -v ip > /dev/null 2>&1") != 0) {
    *why_not = "no `ip` command (apt-get install iproute2)";
    return nullptr;
  }
  std::unique_ptr<TwoNodeNet> n(new TwoNodeNet);
  const std::string id = fmt::format("vrt{}", getpid());  // interface names: at most 15 characters
  for (int i = 0; i < 2; ++i) {
    n->ns_[i] = fmt::format("{}{}", id, "ab"[i]);
    n->if_[i] = n->ns_[i];
  }
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  for (int i = 0; i < 2; ++i) {
    fs::create_directories("/etc/netns/" + n->ns_[i]);
    std::ofstream("/etc/netns/" + n->ns_[i] + "/hosts") << "127.0.0.1\tlocalhost\n127.0.1.1\t" << host << "\n";
  }
  const std::string log = fmt::format("/tmp/{}_setup.log", id);
  const std::string a = n->ns_[0], b = n->ns_[1];
  const int rc = netns_detail::sh(fmt::format(
      "{{ set -e; ip netns add {0}; ip netns add {1}; ip link add {0} type veth peer name {1}; "
      "ip link set {0} netns {0}; ip link set {1} netns {1}; "
      "ip -n {0} addr add 10.77.0.1/24 dev {0}; ip -n {1} addr add 10.77.0.2/24 dev {1}; "
      "ip -n {0} link set lo up; ip -n {1} link set lo up; ip -n {0} link set {0} up; ip -n {1} link set {1} up; "
      "}} > {2} 2>&1",
      a, b, log));
  if (rc != 0) {
    *why_not = "cannot create network namespaces here: " + netns_detail::read_file(log);
    return nullptr;  // the destructor removes whatever was made
  }
  return n;
}

TwoNodeNet::~TwoNodeNet() {
  for (int i = 0; i < 2; ++i) {
    if (ns_[i].empty()) continue;
    kill_node(i);
    netns_detail::sh(fmt::format("ip netns del {} > /dev/null 2>&1", ns_[i]));
    std::error_code ec;
    fs::remove_all("/etc/netns/" + ns_[i], ec);
  }
}

std::string TwoNodeNet::on(int node, const std::string& env) const {
  return fmt::format("ip netns exec {} env {}", ns_[node], env);
}

void TwoNodeNet::cut() const { netns_detail::sh(fmt::format("ip -n {0} link set {0} down", ns_[0])); }

void TwoNodeNet::kill_node(int node) const {
  netns_detail::sh(fmt::format("for p in $(ip netns pids {} 2>/dev/null); do kill -9 $p; done", ns_[node]));
}

Background start_shell(const std::string& cmd, const std::string& log) {
  Background b;
  b.log = log;
  b.start = std::chrono::steady_clock::now();
  b.pid = fork();
  if (b.pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", fmt::format("exec > {} 2>&1; {}", log, cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return b;
}

std::vector<Ended> wait_all(std::vector<Background>& runs, double limit_s, const std::string& marker) {
  std::vector<Ended> out(runs.size());
  std::vector<bool> done(runs.size(), false), seen(runs.size(), marker.empty());
  for (size_t i = 0; i < runs.size(); ++i) out[i].marked = runs[i].start;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  for (size_t left = runs.size(); left > 0;) {
    const bool late = std::chrono::steady_clock::now() > deadline;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (done[i]) continue;
      if (!seen[i] && netns_detail::read_file(runs[i].log).find(marker) != std::string::npos) {
        seen[i] = true;
        out[i].marked = std::chrono::steady_clock::now();
      }
      if (late) kill(-runs[i].pid, SIGKILL);
      int st = 0;
      if (waitpid(runs[i].pid, &st, late ? 0 : WNOHANG) != runs[i].pid) continue;
      done[i] = true;
      --left;
      out[i].when = std::chrono::steady_clock::now();
      out[i].proc.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      out[i].proc.seconds = std::chrono::duration<double>(out[i].when - runs[i].start).count();
      out[i].proc.text = netns_detail::read_file(runs[i].log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return out;
}

}  // namespace vr::test
