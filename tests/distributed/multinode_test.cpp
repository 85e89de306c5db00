// Multi-node data parallelism across a real (virtual) network: two "nodes" made as network namespaces joined by a
// veth pair (tests/distributed/netns.h), the real `vrtrain` binary, the tiny llava model, Gloo. Skipped, with the
// reason, where namespaces cannot be made (not root, no iproute2). Short runs and short timeouts: CI runs the
// whole suite on 2 cores.
//
// Tolerance as in ddp_e2e_test.cpp: the same fp32 gradients summed in another order, 3 AdamW steps: <= kTol.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "distributed/free_port.h"
#include "distributed/netns.h"
#include "distributed/vrtrain_runs.h"
#include "support/fixtures.h"

namespace distributed_multinode_test {

namespace fs = std::filesystem;

namespace {

constexpr double kTol = 1e-5;
constexpr int kPort = 29611;  // inside fresh namespaces: always free

using vr::test::Background;
using vr::test::Ended;
using vr::test::Proc;
using vr::test::TwoNodeNet;

double since(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

int metric_lines(const std::string& out) {
  std::ifstream f(fs::path(out) / "metrics.jsonl");
  int n = 0;
  for (std::string line; std::getline(f, line);) n += !line.empty();
  return n;
}

// Waits until `ready()` or `limit_s`; false on timeout.
template <class F>
bool wait_until(F ready, double limit_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// 1-process reference runs, cached per (micro-batch, accumulation, extra flags).
const std::string& reference(int b, int accum, const std::string& extra) {
  static std::map<std::string, std::string> dirs;
  const std::string key = fmt::format("{}/{}/{}", b, accum, extra);
  auto it = dirs.find(key);
  if (it != dirs.end()) return it->second;
  std::string out = vr::test::temp_dir("multinode_ref") + "/run";
  Proc r = vr::test::run_single(out, b, accum, extra);
  EXPECT_EQ(r.code, 0) << r.text;
  return dirs[key] = out;
}

}  // namespace

// Outside the anonymous namespace: the tests derive from it (-Wsubobject-linkage in unity builds).
class Multinode : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net_ = TwoNodeNet::create(&why);
    if (!net_) GTEST_SKIP() << why;
  }

  // Rank `rank` of `world` on `node` (one rank per node), by hand as srun would start it. `ifname`: set
  // GLOO_SOCKET_IFNAME to the node's veth.
  Background start_rank(int node, int rank, int world, const std::string& args, const std::string& out,
                        bool ifname = true) {
    const std::string env = fmt::format("RANK={} WORLD_SIZE={} MASTER_ADDR={} MASTER_PORT={} {}", rank, world,
                                        net_->address(0), kPort,
                                        ifname ? "GLOO_SOCKET_IFNAME=" + net_->ifname(node) : "");
    return vr::test::start_shell(fmt::format("{} {} {}", net_->on(node, env), VRTRAIN_BIN, args),
                                 fmt::format("{}.rank{}", out, rank));
  }

  std::vector<Background> start_two(const std::string& args, const std::string& out, bool ifname = true) {
    std::vector<Background> runs;
    for (int r = 0; r < 2; ++r) runs.push_back(start_rank(r, r, 2, args, out, ifname));
    return runs;
  }

  std::unique_ptr<TwoNodeNet> net_;
};

// 2 nodes x 1 rank x b=2 == 1 process x b=2 x accumulation 2; each rank prints the interface and address it
// advertises.
TEST_F(Multinode, TwoNodesOfOneRankEqualOneProcessWithAccumulation2) {
  const std::string& ref = reference(2, 2, "");
  const std::string out = vr::test::temp_dir("multinode_2x1") + "/run";
  auto runs = start_two(vr::test::ddp_train_args(out, 2, 1), out);
  auto ended = vr::test::wait_all(runs, 180);
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(ended[r].proc.code, 0) << ended[r].proc.text;
    EXPECT_NE(ended[r].proc.text.find(fmt::format("network: gloo advertises {} on interface {} (GLOO_SOCKET_IFNAME={})",
                                                  net_->address(r), net_->ifname(r), net_->ifname(r))),
              std::string::npos)
        << ended[r].proc.text;
  }
  EXPECT_NE(ended[1].proc.text.find(fmt::format("MASTER_ADDR {} is on another host", net_->address(0))),
            std::string::npos)
      << ended[1].proc.text;
  EXPECT_NE(ended[0].proc.text.find("rank 0 of 2"), std::string::npos) << ended[0].proc.text;
  EXPECT_LE(vr::test::max_weight_diff(vr::test::final_weights(out), vr::test::final_weights(ref)), kTol);
}

// 2 nodes x 2 ranks, each node started with `vrtrain launch --nnodes 2 --node-rank K`, micro-batch 1 == 1 process
// x b=1 x accumulation 4 (the same 4 samples per step).
TEST_F(Multinode, TwoNodesOfTwoRanksWithLaunchEqualOneProcess) {
  const std::string& ref = reference(1, 4, "");
  const std::string out = vr::test::temp_dir("multinode_2x2") + "/run";
  std::vector<Background> runs;
  for (int node = 0; node < 2; ++node)
    runs.push_back(vr::test::start_shell(
        fmt::format("{} {} launch --nproc-per-node 2 --nnodes 2 --node-rank {} --master-addr {} --master-port {} -- {}",
                    net_->on(node, "GLOO_SOCKET_IFNAME=" + net_->ifname(node)), VRTRAIN_BIN, node, net_->address(0),
                    kPort, vr::test::ddp_train_args(out, 1, 1)),
        fmt::format("{}.node{}", out, node)));
  auto ended = vr::test::wait_all(runs, 240);
  for (int node = 0; node < 2; ++node) ASSERT_EQ(ended[node].proc.code, 0) << ended[node].proc.text;
  EXPECT_NE(ended[0].proc.text.find("global batch 4 = batch_size 1 x grad_accum 1 x 4 ranks"), std::string::npos)
      << ended[0].proc.text;
  EXPECT_NE(ended[1].proc.text.find(fmt::format("[rank 3] network: gloo advertises {}", net_->address(1))),
            std::string::npos)
      << ended[1].proc.text;
  EXPECT_LE(vr::test::max_weight_diff(vr::test::final_weights(out), vr::test::final_weights(ref)), kTol);
}

// The link goes silent mid-run (no RST, no FIN): both ranks end within dist.timeout_s + a margin (the heartbeat
// check that names the silent peer takes a few seconds of its own), each naming the other.
TEST_F(Multinode, SilentPartitionEndsEveryRankWithinTheTimeoutNamingThePeer) {
  const double timeout_s = 6, margin_s = 15;
  const std::string out = vr::test::temp_dir("multinode_cut") + "/run";
  auto runs = start_two(vr::test::ddp_train_args(out, 2, 1, fmt::format("--set train.max_steps=100000 "
                                                                         "--set train.export_final=false "
                                                                         "--set dist.timeout_s={}",
                                                                         timeout_s)),
                        out);
  ASSERT_TRUE(wait_until([&] { return metric_lines(out) >= 2; }, 120)) << "the run never got going";
  const auto cut = std::chrono::steady_clock::now();
  net_->cut();
  auto ended = vr::test::wait_all(runs, timeout_s + 60);
  for (int r = 0; r < 2; ++r) {
    const std::string& log = ended[r].proc.text;
    const double took = since(cut, ended[r].when);
    std::printf("rank %d ended %.1f s after the cut (dist.timeout_s %.0f), exit %d\n", r, took, timeout_s,
                ended[r].proc.code);
    EXPECT_EQ(ended[r].proc.code, 5) << log;
    EXPECT_LE(took, timeout_s + margin_s) << log;
    EXPECT_NE(log.find(fmt::format("failed or silent: rank {}", 1 - r)), std::string::npos) << log;
  }
}

// A node dies (its process SIGKILLed; the kernel closes its connections): the other rank ends within seconds,
// long before dist.timeout_s, naming it.
TEST_F(Multinode, KilledNodeEndsTheOtherFast) {
  const std::string out = vr::test::temp_dir("multinode_kill") + "/run";
  auto runs = start_two(vr::test::ddp_train_args(out, 2, 1, "--set train.max_steps=100000 "
                                                            "--set train.export_final=false"),
                        out);
  ASSERT_TRUE(wait_until([&] { return metric_lines(out) >= 2; }, 120)) << "the run never got going";
  const auto killed = std::chrono::steady_clock::now();
  net_->kill_node(1);
  auto ended = vr::test::wait_all(runs, 60);
  const double took = since(killed, ended[0].when);
  std::printf("rank 0 ended %.1f s after node 1 was killed, exit %d\n", took, ended[0].proc.code);
  EXPECT_EQ(ended[0].proc.code, 5) << ended[0].proc.text;
  EXPECT_LT(took, 10.0) << ended[0].proc.text;
  EXPECT_NE(ended[0].proc.text.find("failed or silent: rank 1"), std::string::npos) << ended[0].proc.text;
}

// No GLOO_SOCKET_IFNAME, and the host name resolves to 127.0.1.1 (Debian's default): each rank would advertise a
// loopback address to a peer on another host. Both fail at once (not after dist.init_timeout_s = 30 s) saying
// what was advertised and what to set.
TEST_F(Multinode, LoopbackHostNameFailsAtOnceWithTheHint) {
  const std::string out = vr::test::temp_dir("multinode_loop") + "/run";
  auto runs = start_two(vr::test::ddp_train_args(out, 2, 1), out, /*ifname=*/false);
  // Timed from the rank's "network:" line, its first step of the set-up: model loading before it varies with load.
  auto ended = vr::test::wait_all(runs, 120, "network: gloo advertises");
  for (int r = 0; r < 2; ++r) {
    const std::string& log = ended[r].proc.text;
    const double took = since(ended[r].marked, ended[r].when);
    std::printf("rank %d failed %.1f s after its network set-up began, exit %d\n", r, took, ended[r].proc.code);
    EXPECT_NE(ended[r].proc.code, 0) << log;
    EXPECT_LT(took, 10.0) << log;
    EXPECT_NE(log.find("network: gloo advertises 127.0.1.1"), std::string::npos) << log;
    EXPECT_NE(log.find("GLOO_SOCKET_IFNAME"), std::string::npos) << log;
  }
  // Rank 0's own address works for its host alone; it learns from the exchange that rank 1 is elsewhere.
  EXPECT_NE(ended[0].proc.text.find("the ranks run on 2 hosts, but rank 0 (127.0.1.1"), std::string::npos)
      << ended[0].proc.text;
  EXPECT_NE(ended[0].proc.text.find("rank 1 (127.0.1.1"), std::string::npos) << ended[0].proc.text;
  // The rank on the other host is told exactly which interface reaches MASTER_ADDR.
  EXPECT_NE(ended[1].proc.text.find(fmt::format("GLOO_SOCKET_IFNAME={} ({} has {}", net_->ifname(1), net_->ifname(1),
                                                net_->address(1))),
            std::string::npos)
      << ended[1].proc.text;
  EXPECT_NE(ended[1].proc.text.find("this rank would advertise 127.0.1.1"), std::string::npos) << ended[1].proc.text;
}

// Partitioned after its step-2 checkpoint, the 2-node run stops; resumed on 1 process with accumulation 2 (another
// world size, same global batch) it ends with the weights of the uninterrupted 1-process run.
TEST_F(Multinode, ResumeAfterAPartitionEqualsTheUninterruptedRun) {
  const std::string steps = "--set train.max_steps=20";
  const std::string& ref = reference(2, 2, steps);
  const std::string out = vr::test::temp_dir("multinode_resume") + "/run";
  auto runs = start_two(vr::test::ddp_train_args(out, 2, 1, steps + " --set train.save_every=1 --set dist.timeout_s=5"),
                        out);
  ASSERT_TRUE(wait_until([&] { return fs::exists(fs::path(out) / "checkpoints/step_00000002/state.json"); }, 120))
      << "no step-2 checkpoint";
  net_->cut();
  auto ended = vr::test::wait_all(runs, 60);
  for (int r = 0; r < 2; ++r) ASSERT_EQ(ended[r].proc.code, 5) << ended[r].proc.text;
  ASSERT_FALSE(fs::exists(fs::path(out) / "final")) << "the run finished before the cut";
  Proc b = vr::test::run_single(out, 2, 2, steps);
  ASSERT_EQ(b.code, 0) << b.text;
  EXPECT_NE(b.text.find("resumed from"), std::string::npos) << b.text;
  EXPECT_LE(vr::test::max_weight_diff(vr::test::final_weights(out), vr::test::final_weights(ref)), kTol);
}

// A peer that accepts the connection and never answers (a TCP listener nobody serves): the start-up is bounded by
// the watchdog, which ends the rank within dist.init_timeout_s + 5 s with the phase and the real elapsed time.
// Needs no namespace.
TEST(MultinodeWatchdog, PeerThatNeverAnswersIsBoundedByInitTimeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 16), 0);  // the kernel completes handshakes; nobody ever reads or answers
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const double init_timeout_s = 4;
  const std::string out = vr::test::temp_dir("multinode_mute") + "/run";
  std::vector<Background> run{vr::test::start_shell(
      fmt::format("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT={} {} {}", ntohs(a.sin_port), VRTRAIN_BIN,
                  vr::test::ddp_train_args(out, 2, 1, fmt::format("--set dist.init_timeout_s={}", init_timeout_s))),
      out + ".log")};
  // The watchdog starts with the network set-up, which the "network:" line opens.
  auto ended = vr::test::wait_all(run, 120, "network: gloo advertises");
  close(fd);
  const Proc& r = ended[0].proc;
  const double took = since(ended[0].marked, ended[0].when);
  std::printf("the rank ended %.1f s after its set-up began (dist.init_timeout_s %.0f), exit %d\n", took,
              init_timeout_s, r.code);
  EXPECT_EQ(r.code, 5) << r.text;
  EXPECT_LT(took, init_timeout_s + 5) << r.text;
  EXPECT_NE(r.text.find("did not finish within dist.init_timeout_s = 4 s"), std::string::npos) << r.text;
}

}  // namespace distributed_multinode_test
