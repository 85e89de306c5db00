#include "process_group.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>

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

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"

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

template <class PG>
class PgCollectives final : public Collectives {
 public:
  PgCollectives(std::string name, c10::intrusive_ptr<PG> pg, c10::intrusive_ptr<c10d::TCPStore> hb_store,
                int64_t rank, std::string prefix)
      : name_(std::move(name)), prefix_(std::move(prefix)), pg_(std::move(pg)), hb_store_(std::move(hb_store)) {
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
    if (name_ == "nccl") return pending_of(pg_->_allgather_base(flat, part));  // into flat, no temporary
    std::vector<std::vector<at::Tensor>> out{flat.chunk(pg_->getSize())};
    std::vector<at::Tensor> in{std::move(part)};
    return pending_of(pg_->allgather(out, in));
  }
  bool has_reduce_scatter() const override { return name_ == "nccl"; }
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
  void set_flag(const std::string& key) override { flag_store()->set(prefix_ + "/" + key, std::vector<uint8_t>{1}); }
  bool has_flag(const std::string& key) override { return flag_store()->check({prefix_ + "/" + key}); }
  void set_client_factory(std::function<c10::intrusive_ptr<c10d::TCPStore>()> f) { make_store_client = std::move(f); }

 private:
  c10::intrusive_ptr<c10d::TCPStore> flag_store() {
    if (!flag_store_) flag_store_ = make_store_client();
    return flag_store_;
  }

  std::string name_, prefix_;
  c10::intrusive_ptr<PG> pg_;
  c10::intrusive_ptr<c10d::TCPStore> hb_store_;
  c10::intrusive_ptr<c10d::TCPStore> flag_store_;  // wait_for_main_rank's flags (main thread only)
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

std::unique_ptr<Collectives> connect_collectives(const DistEnv& env, const std::string& backend,
                                                 std::chrono::milliseconds init_timeout,
                                                 std::chrono::milliseconds op_timeout) {
  const std::string where = fmt::format("{}:{}", env.master_addr, env.master_port);
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = make_store(env, env.rank == 0 && !env.agent_store, init_timeout);
  } catch (const std::exception& e) {
    // torchrun's agent store speaks its PyTorch's TCPStore protocol, which changed in 2.x: a 2.x client is reset
    // by a 1.13 server (and vice versa), so a torchrun of another major version fails here.
    VR_FAIL("rank {}: rendezvous at {} failed ({}): {}", env.rank, where,
            env.agent_store ? "cannot join torchrun's store: is torchrun from a PyTorch of the same major version as "
                              "vrtrain's LibTorch " + compat::torch_version() + "?"
            : env.rank == 0 ? std::string("cannot serve the store there: port in use or address not local?")
                            : std::string("cannot reach rank 0's store: wrong MASTER_ADDR/MASTER_PORT, or rank 0 "
                                          "not started?"),
            e.what());
  }
  auto client = [env]() { return make_store(env, false, std::chrono::milliseconds(3000)); };
  auto hb = client();
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix + "/pg", store);
  try {
    if (backend == "nccl") {
#if defined(VR_WITH_CUDA)
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = init_timeout;  // GroupCommunicator::wait bounds each wait by dist.timeout_s after the first step
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, static_cast<int>(env.rank),
                                                           static_cast<int>(env.world_size), o);
      auto c = std::make_unique<PgCollectives<c10d::ProcessGroupNCCL>>("nccl", pg, hb, env.rank, env.store_prefix);
      c->set_client_factory(client);
      return c;
#else
      VR_FAIL("dist.backend=nccl: this vrtrain was built against a LibTorch without CUDA/NCCL; use dist.backend=gloo");
#endif
    }
    VR_CHECK(backend == "gloo", "dist.backend '{}' is not one of auto, nccl, gloo", backend);
#if defined(VR_WITH_GLOO)
    auto o = c10d::ProcessGroupGloo::Options::create();
    o->timeout = std::max(init_timeout, op_timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(env.master_addr))
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    o->threads = 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, static_cast<int>(env.rank),
                                                         static_cast<int>(env.world_size), o);
    auto c = std::make_unique<PgCollectives<c10d::ProcessGroupGloo>>("gloo", pg, hb, env.rank, env.store_prefix);
    c->set_client_factory(client);
    return c;
#else
    VR_FAIL("dist.backend=gloo: this vrtrain was built without the Gloo headers (install libgloo-dev)");
#endif
  } catch (const vr::Error&) {
    throw;
  } catch (const std::exception& e) {
    VR_FAIL("rank {}: creating the {} process group over the store at {} failed within {} s (a rank that never "
            "came?): {}",
            env.rank, backend, where, init_timeout.count() / 1000.0, e.what());
  }
}

}  // namespace vr::distributed
