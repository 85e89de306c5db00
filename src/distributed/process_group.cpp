#include "process_group.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>

#include <ATen/Functions.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// Gloo: its headers come with libgloo-dev (Debian) or the LibTorch package; its symbols are in libtorch_cpu.
#if __has_include(<gloo/algorithm.h>)
#define VR_WITH_GLOO 1
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
// NCCL: only in a LibTorch built with CUDA (VR_WITH_CUDA, set by cmake/VrDependencies.cmake); Debian's 1.13 CPU
// package has the header but no NCCL symbols.
#if defined(VR_WITH_CUDA)
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "address_exchange.h"
#include "vr/core/error.h"
#include "vr/core/logging.h"
#include "vr/core/torch_compat.h"
#include "vr/distributed/watchdog.h"

namespace vr::distributed {

namespace {

c10d::ReduceOp to_c10d(Reduce op) {
  switch (op) {
    case Reduce::min: return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case Reduce::max: return c10d::ReduceOp(c10d::ReduceOp::MAX);
    default: return c10d::ReduceOp(c10d::ReduceOp::SUM);
  }
}

template <class Work>
Pending pending_of(c10::intrusive_ptr<Work> w) {
  return Pending{[w](std::chrono::milliseconds timeout) {
    if (!w->wait(timeout)) throw std::runtime_error("collective did not complete");
  }};
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

c10::intrusive_ptr<c10d::TCPStore> make_store(const DistEnv& env, bool server, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(env.master_port);
  o.isServer = server;
  if (server) o.numWorkers = static_cast<std::size_t>(env.world_size);
  o.waitWorkers = false;  // the process group's own rendezvous waits for everyone
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
}

// Which flat collectives (_reduce_scatter_base, _allgather_base) the backend has: NCCL always; Gloo since
// LibTorch 2.x (1.13's throws "does not support"), found out by probe_flat_collectives.
struct FlatCollectives {
  bool reduce_scatter = false, all_gather = false;
};

// Tries each flat collective once on a tiny tensor: a backend without it throws at the call, before anything is
// sent, on every rank alike (every rank runs the same binary), so the probe is itself collective and consistent.
// A result that is not the expected sum or gather counts as missing.
template <class PG>
FlatCollectives probe_flat_collectives(PG& pg, int64_t world) {
  FlatCollectives f;
  at::Tensor flat = at::ones({world}), part = at::zeros({1});
  try {
    pg._reduce_scatter_base(part, flat)->wait();
    f.reduce_scatter = part.item<float>() == static_cast<float>(world);
  } catch (const std::exception&) {
  }
  at::Tensor gathered = at::zeros({world}), mine = at::ones({1});
  try {
    pg._allgather_base(gathered, mine)->wait();
    f.all_gather = gathered.sum().item<float>() == static_cast<float>(world);
  } catch (const std::exception&) {
  }
  return f;
}

template <class PG>
class PgCollectives final : public Collectives {
 public:
  PgCollectives(std::string name, c10::intrusive_ptr<PG> pg, c10::intrusive_ptr<c10d::TCPStore> hb_store,
                int64_t rank, std::string prefix, FlatCollectives flat)
      : name_(std::move(name)),
        prefix_(std::move(prefix)),
        pg_(std::move(pg)),
        hb_store_(std::move(hb_store)),
        flat_(flat) {
    // Liveness: bump vr/hb/<rank> once a second on a connection of its own, so a rank that is gone or stuck
    // (its counter stops) can be named when a collective fails.
    beat_ = std::thread([this, rank] {
      const std::string key = fmt::format("{}/hb/{}", prefix_, rank);
      while (!stop_) {
        try {
          hb_store_->add(key, 1);
        } catch (const std::exception&) {
          return;  // the store (rank 0) is gone; heartbeat_of reports -1
        }
        for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~PgCollectives() override {
    stop_ = true;
    if (beat_.joinable()) beat_.join();
  }
  std::string backend() const override { return name_; }
  Pending all_reduce(at::Tensor t, Reduce op) override {
    std::vector<at::Tensor> v{std::move(t)};
    c10d::AllreduceOptions o;
    o.reduceOp = to_c10d(op);
    return pending_of(pg_->allreduce(v, o));
  }
  Pending broadcast(at::Tensor t, int64_t root) override {
    std::vector<at::Tensor> v{std::move(t)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    return pending_of(pg_->broadcast(v, o));
  }
  Pending all_gather(at::Tensor flat, at::Tensor part) override {
    if (flat_.all_gather) return pending_of(pg_->_allgather_base(flat, part));  // into flat, no temporary
    std::vector<std::vector<at::Tensor>> out{flat.chunk(pg_->getSize())};
    std::vector<at::Tensor> in{std::move(part)};
    return pending_of(pg_->allgather(out, in));
  }
  bool has_reduce_scatter() const override { return flat_.reduce_scatter; }
  Pending reduce_scatter(at::Tensor flat, at::Tensor part) override {
    VR_CHECK(has_reduce_scatter(), "reduce_scatter: not available with {}", name_);
    return pending_of(pg_->_reduce_scatter_base(part, flat));  // out of flat, no temporary
  }
  int64_t heartbeat_of(int64_t rank) override {
    try {
      auto c = make_store_client();
      return c->add(fmt::format("{}/hb/{}", prefix_, rank), 0);
    } catch (const std::exception&) {
      return -1;
    }
  }
  // A connection of its own per call: a long-lived one would block forever in a read once the link goes silent
  // (no RST), while a fresh connect is bounded by the client's 3 s timeout and then throws.
  void set_flag(const std::string& key) override {
    make_store_client()->set(prefix_ + "/" + key, std::vector<uint8_t>{1});
  }
  bool has_flag(const std::string& key) override { return make_store_client()->check({prefix_ + "/" + key}); }
  void set_client_factory(std::function<c10::intrusive_ptr<c10d::TCPStore>()> f) { make_store_client = std::move(f); }

 private:
  std::string name_, prefix_;
  c10::intrusive_ptr<PG> pg_;
  c10::intrusive_ptr<c10d::TCPStore> hb_store_;
  FlatCollectives flat_;  // the flat collectives this backend has (probe_flat_collectives)
  std::function<c10::intrusive_ptr<c10d::TCPStore>()> make_store_client;
  std::atomic<bool> stop_{false};
  std::thread beat_;
};

}  // namespace

bool nccl_available_in_build() {
#if defined(VR_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

namespace {

// ---- start-up: every phase runs under one Watchdog with dist.init_timeout_s (connect_collectives) ----

// One start-up phase: an exception from c10d, Gloo or NCCL becomes one vr::Error naming the rank, the phase, the
// real elapsed time and what to check (its first line only: c10d appends a C++ backtrace).
template <class F>
auto in_phase(Watchdog& dog, const DistEnv& env, const std::string& what, const std::string& hint, double limit_s,
              F f) -> decltype(f()) {
  dog.phase(what, hint);
  try {
    return f();
  } catch (const vr::Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string reason = e.what();
    reason = reason.substr(0, reason.find('\n'));
    VR_FAIL("rank {}: {} failed after {:.1f} s (dist.init_timeout_s = {:g} s): {}; {}", env.rank, what,
            dog.elapsed_s(), limit_s, reason, hint);
  }
}

std::string rendezvous_hint(const DistEnv& env) {
  // torchrun's agent store speaks its PyTorch's TCPStore protocol, which changed in 2.x: a 2.x client is reset
  // by a 1.13 server (and vice versa), so a torchrun of another major version fails here.
  if (env.agent_store)
    return "cannot join torchrun's store: is torchrun from a PyTorch of the same major version as vrtrain's "
           "LibTorch " + compat::torch_version() + "?";
  if (env.rank == 0) return "rank 0 serves the store there: is the port free, and MASTER_ADDR this host?";
  return "rank 0's store did not answer: is rank 0 running, with the same MASTER_ADDR:MASTER_PORT on every node, "
         "and is the port open between the nodes (firewall)?";
}

// A 1-element all-reduce right after creation: NCCL creates its communicator here (lazily, inside the call,
// which cannot time out), and a mesh that connected but cannot carry data shows up now, not in step 1.
template <class PG>
void first_collective(PG& pg, const DistEnv& env, bool cuda, std::chrono::milliseconds timeout) {
  at::TensorOptions o = at::TensorOptions().dtype(at::kFloat);
  if (cuda) o = o.device(at::Device(at::kCUDA, static_cast<at::DeviceIndex>(env.local_rank)));
  std::vector<at::Tensor> v{at::ones({1}, o)};
  auto work = pg.allreduce(v);
  VR_CHECK(work->wait(timeout), "rank {}: the first all_reduce did not complete", env.rank);
  const double sum = v[0].cpu().template item<double>();
  VR_CHECK(sum == static_cast<double>(env.world_size), "rank {}: the first all_reduce gave {}, expected {}",
           env.rank, sum, env.world_size);
}

#if defined(VR_WITH_GLOO)
c10::intrusive_ptr<c10d::ProcessGroupGloo> make_gloo(const DistEnv& env, c10::intrusive_ptr<c10d::Store> store,
                                                     std::chrono::milliseconds timeout) {
  auto o = c10d::ProcessGroupGloo::Options::create();
  o->timeout = timeout;
  if (const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME")) {
    // "eth0,eth1": one device per interface, as torch.distributed does (the first one is advertised first).
    const std::string list = ifnames;
    for (size_t at = 0; at < list.size();) {
      const size_t comma = std::min(list.find(',', at), list.size());
      if (comma > at) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(list.substr(at, comma - at)));
      at = comma + 1;
    }
  } else if (is_loopback(env.master_addr))
    o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else
    o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  o->threads = 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(env.rank),
                                                    static_cast<int>(env.world_size), o);
}
#endif

// The first collective, then the Collectives with their heartbeat connection.
template <class PG>
std::unique_ptr<Collectives> finish(const std::string& name, c10::intrusive_ptr<PG> pg, const DistEnv& env,
                                    Watchdog& dog, std::chrono::milliseconds init_timeout, bool cuda_tensors) {
  in_phase(dog, env,
           fmt::format("the first {} all_reduce{}", name, name == "nccl" ? " (NCCL creates its communicator)" : ""),
           "the process group connected but the first collective did not complete: a firewall or MTU problem "
           "between the nodes, or a rank stuck elsewhere",
           init_timeout.count() / 1000.0, [&] { first_collective(*pg, env, name == "nccl", init_timeout); });
  const FlatCollectives flat = name == "nccl"  ? FlatCollectives{true, true}
                               : cuda_tensors ? FlatCollectives{}
                                              : probe_flat_collectives(*pg, env.world_size);
  auto client = [env]() { return make_store(env, false, std::chrono::milliseconds(3000)); };
  auto c = std::make_unique<PgCollectives<PG>>(name, pg, client(), env.rank, env.store_prefix, flat);
  c->set_client_factory(client);
  return c;
}

}  // namespace

std::unique_ptr<Collectives> connect_collectives(const DistEnv& env, const std::string& backend,
                                                 std::chrono::milliseconds init_timeout,
                                                 std::chrono::milliseconds op_timeout, bool cuda_tensors) {
  VR_CHECK(backend == "gloo" || backend == "nccl", "dist.backend '{}' is not one of auto, nccl, gloo", backend);
  const std::string where = fmt::format("{}:{}", env.master_addr, env.master_port);
  const double limit_s = init_timeout.count() / 1000.0;
  // c10d's connects and NCCL's init block without a usable timeout: the watchdog ends the process at the deadline.
  // The store's own timeout is a second longer, so that a timeout always reads as the watchdog's line.
  Watchdog dog(env.rank, limit_s, "dist.init_timeout_s");
  dog.phase("resolving MASTER_ADDR and this host's name", "a slow or unreachable DNS server?");
  const RankAddress me = this_rank_address(env, backend);
  vr::log::info("{}", describe_choice(backend, me, env.master_addr));
  auto store = in_phase(dog, env, fmt::format("the rendezvous at {}", where), rendezvous_hint(env), limit_s, [&] {
    return make_store(env, env.rank == 0 && !env.agent_store, init_timeout + std::chrono::seconds(1));
  });
  const std::vector<RankAddress> all = in_phase(
      dog, env, fmt::format("the exchange of the ranks' addresses in the store at {}", where),
      fmt::format("some of the {} ranks never reached the store (not started, wrong WORLD_SIZE, or an earlier "
                  "failure on their node)",
                  env.world_size),
      limit_s, [&] { return exchange_addresses(*store, env, backend, me); });
  const std::string mesh_hint = fmt::format(
      "the ranks could not connect to each other's advertised addresses ({}): a firewall between the nodes, or an "
      "address the others cannot route to ({})",
      describe_addresses(all), backend == "nccl" ? "NCCL_SOCKET_IFNAME" : "GLOO_SOCKET_IFNAME");
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix + "/pg", store);
  std::unique_ptr<Collectives> c;
  if (backend == "nccl") {
#if defined(VR_WITH_CUDA)
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = init_timeout;  // GroupCommunicator::wait bounds each wait by dist.timeout_s after the first step
    auto pg = in_phase(dog, env, "creating the nccl process group", mesh_hint, limit_s, [&] {
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, static_cast<int>(env.rank),
                                                         static_cast<int>(env.world_size), o);
    });
    c = finish<c10d::ProcessGroupNCCL>("nccl", pg, env, dog, init_timeout, cuda_tensors);
#else
    VR_FAIL("dist.backend=nccl: this vrtrain was built against a LibTorch without CUDA/NCCL; use dist.backend=gloo");
#endif
  } else {
#if defined(VR_WITH_GLOO)
    auto pg = in_phase(dog, env, "creating the gloo process group (a full mesh of connections)", mesh_hint, limit_s,
                       [&] { return make_gloo(env, prefixed, std::max(init_timeout, op_timeout)); });
    c = finish<c10d::ProcessGroupGloo>("gloo", pg, env, dog, init_timeout, cuda_tensors);
#else
    VR_FAIL("dist.backend=gloo: this vrtrain was built without the Gloo headers (install libgloo-dev)");
#endif
  }
  dog.disarm();
  return c;
}

}  // namespace vr::distributed
