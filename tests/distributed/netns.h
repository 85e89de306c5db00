// Two "nodes" on one machine for the multi-node tests: Linux network namespaces joined by a veth pair, node 0 at
// 10.77.0.1/24 and node 1 at 10.77.0.2/24, nothing routed outside. Each namespace gets the Debian default
// /etc/hosts (the host name mapped to 127.0.1.1; `ip netns exec` bind-mounts /etc/netns/<ns>/hosts), so a rank
// without GLOO_SOCKET_IFNAME makes the classic mistake of advertising a loopback address.
// Needs root and iproute2 (`ip`); create() says why not otherwise, for GTEST_SKIP.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/vrtrain_runs.h"

namespace vr::test {

class TwoNodeNet {
 public:
  // nullptr and `why_not` set when namespaces cannot be made here.
  static std::unique_ptr<TwoNodeNet> create(std::string* why_not);
  ~TwoNodeNet();  // deletes both namespaces (the veth pair goes with them) and their /etc/netns entries
  TwoNodeNet(const TwoNodeNet&) = delete;
  TwoNodeNet& operator=(const TwoNodeNet&) = delete;

  const std::string& ns(int node) const { return ns_[node]; }
  const std::string& ifname(int node) const { return if_[node]; }
  std::string address(int node) const { return node == 0 ? "10.77.0.1" : "10.77.0.2"; }
  // `ip netns exec <ns> env <env...>`: prefix of a command run on `node`.
  std::string on(int node, const std::string& env = "") const;
  // A silent partition: node 0's end of the link goes down (node 1's loses its carrier); no RST, no FIN.
  void cut() const;
  // SIGKILL every process in node's namespace (the node dies; the namespace stays).
  void kill_node(int node) const;

 private:
  TwoNodeNet() = default;
  std::string ns_[2], if_[2];
};

// A shell command running in the background (a process group of its own), output into `log`.
struct Background {
  pid_t pid = -1;
  std::string log;
  std::chrono::steady_clock::time_point start;
};
Background start_shell(const std::string& cmd, const std::string& log);

struct Ended {
  Proc proc;                                     // code -1 when killed at the limit
  std::chrono::steady_clock::time_point when;    // when it exited
  std::chrono::steady_clock::time_point marked;  // when `marker` first appeared in its log (else its start)
};
// Waits for all of them; any still running `limit_s` after the call is SIGKILLed (its group) and gets code -1.
// `marker`: a log line to time from (start-up before it, model loading, varies with the machine's load).
std::vector<Ended> wait_all(std::vector<Background>& runs, double limit_s, const std::string& marker = "");

}  // namespace vr::test
