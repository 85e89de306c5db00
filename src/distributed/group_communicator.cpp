#include "group_communicator.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "vr/core/error.h"

namespace vr::distributed {

namespace {
using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}
}  // namespace

std::shared_ptr<Communicator> make_single_process_communicator() { return std::make_shared<Communicator>(); }

GroupCommunicator::GroupCommunicator(DistEnv env, DataParallelOptions opt, std::unique_ptr<Collectives> collectives)
    : env_(std::move(env)), opt_(opt), collectives_(std::move(collectives)) {
  if (opt_.cuda) device_ = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(opt_.cuda_index));
}

std::vector<double> GroupCommunicator::all_reduce_sum(std::vector<double> values) {
  at::Tensor t = torch::tensor(values, torch::kDouble).to(device_);
  Pending w = collectives_->all_reduce(t, Reduce::sum);
  wait(w, fmt::format("all_reduce of the step statistics (step {})", steps_));
  t = t.cpu();
  for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
  return values;
}

std::string GroupCommunicator::broadcast_text(const std::string& text, const std::string& what) {
  torch::NoGradGuard no_grad;
  at::Tensor n = torch::tensor({static_cast<int64_t>(env_.rank == 0 ? text.size() : 0)}, torch::kLong).to(device_);
  Pending a = collectives_->broadcast(n, 0);
  wait(a, "the broadcast of " + what + " from rank 0 (size)", true);
  const int64_t len = n.cpu().item<int64_t>();
  if (len == 0) return {};
  at::Tensor bytes = torch::zeros({len}, torch::kUInt8);
  if (env_.rank == 0) std::memcpy(bytes.data_ptr(), text.data(), static_cast<size_t>(len));
  bytes = bytes.to(device_);
  Pending b = collectives_->broadcast(bytes, 0);
  wait(b, "the broadcast of " + what + " from rank 0", true);
  bytes = bytes.cpu();
  return std::string(static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(len));
}

int64_t GroupCommunicator::verify_identical(const NamedTensors& named, bool bitwise, const std::string& when) {
  torch::NoGradGuard no_grad;
  std::vector<double> f;
  for (const auto& [name, p] : named) {
    if (bitwise) {
      at::Tensor c = p.detach().contiguous().cpu();
      const uint64_t h = std::hash<std::string_view>{}(
          std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
      f.push_back(static_cast<double>(h >> 32));  // two exact halves: doubles hold 53-bit integers
      f.push_back(static_cast<double>(h & 0xffffffffULL));
    } else {
      f.push_back(p.detach().sum(at::kDouble).item<double>());
      f.push_back(static_cast<double>(p.numel()));
    }
  }
  at::Tensor lo = torch::tensor(f, torch::kDouble).to(device_), hi = lo.clone();
  Pending a = collectives_->all_reduce(lo, Reduce::min), b = collectives_->all_reduce(hi, Reduce::max);
  wait(a, "the weight check (min) " + when, steps_ == 0);
  wait(b, "the weight check (max) " + when, steps_ == 0);
  at::Tensor diff = lo.ne(hi).cpu();
  for (int64_t i = 0; i < diff.numel(); ++i)
    VR_CHECK(!diff[i].item<bool>(), "rank {}: '{}' differs between ranks {} ({}): same model.path, config and "
                                    "selection on every rank?",
             env_.rank, named[static_cast<size_t>(i / 2)].first, when, bitwise ? "bytes" : "sum");
  return static_cast<int64_t>(named.size());
}

// Through the store, not a collective: a collective's timeout is fixed when the process group is made, and a
// large checkpoint takes longer. Rank 0 sets vr/main_done/<n>; the others poll it every 250 ms (a fresh store
// connection each time, bounded by its connect timeout) and, once a second, rank 0's heartbeat (its own thread keeps beating while the main thread writes). They give up only when
// that heartbeat has not moved for dist.timeout_s, or the store is unreachable (rank 0 is gone).
void GroupCommunicator::wait_for_main_rank(const std::string& what) {
  const std::string key = fmt::format("main_done/{}", main_rank_waits_++);
  if (env_.rank == 0) {
    collectives_->set_flag(key);
    return;
  }
  const auto t0 = clock_type::now();
  auto last_beat_at = t0;
  int64_t last_beat = collectives_->heartbeat_of(0);
  auto last_check = t0;
  auto done = [&] {
    try {
      return collectives_->has_flag(key);
    } catch (const std::exception& e) {
      fail("waiting for rank 0 to finish " + what, seconds_since(t0), opt_.timeout_s,
           std::string("rank 0's store is unreachable (rank 0 is gone?): ") + e.what());
    }
  };
  while (!done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (seconds_since(last_check) < 1.0) continue;
    last_check = clock_type::now();
    const int64_t beat = collectives_->heartbeat_of(0);
    if (beat < 0) fail("waiting for rank 0 to finish " + what, seconds_since(t0), opt_.timeout_s,
                       "rank 0's store is unreachable (rank 0 is gone)");
    if (beat != last_beat) {
      last_beat = beat;
      last_beat_at = clock_type::now();
    } else if (seconds_since(last_beat_at) > opt_.timeout_s) {
      fail("waiting for rank 0 to finish " + what, seconds_since(t0), opt_.timeout_s,
           fmt::format("rank 0's heartbeat stopped {:.0f} s ago", seconds_since(last_beat_at)));
    }
  }
}

std::string GroupCommunicator::describe() const {
  return fmt::format("data parallel: {} ({}), rank {} of {} (local {} of {}, node {}), master {}:{}",
                     collectives_->backend(), env_.source, env_.rank, env_.world_size, env_.local_rank,
                     env_.local_world_size, env_.node_rank, env_.master_addr, env_.master_port);
}

void GroupCommunicator::wait(Pending& w, const std::string& what, bool startup) {
  const double limit_s = startup || steps_ == 0 ? std::max(opt_.init_timeout_s, opt_.timeout_s) : opt_.timeout_s;
  const auto t0 = clock_type::now();
  try {
    w.wait(std::chrono::milliseconds(static_cast<int64_t>(limit_s * 1000)));
  } catch (const std::exception& e) {
    std::string reason = e.what();
    if (auto nl = reason.find('\n'); nl != std::string::npos) reason = reason.substr(0, nl);
    fail(what, seconds_since(t0), limit_s, reason);
  }
}

void GroupCommunicator::fail(const std::string& what, double took_s, double limit_s, const std::string& reason) {
  const std::string suspects = silent_ranks();
  std::fprintf(stderr, "[rank %lld] error: %s failed after %.1f s (%s timeout %.0f s): %s; %s\n",
               static_cast<long long>(env_.rank), what.c_str(), took_s, collectives_->backend().c_str(), limit_s,
               reason.c_str(), suspects.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(5);
}

std::string GroupCommunicator::silent_ranks() {
  std::vector<int64_t> before(static_cast<size_t>(env_.world_size));
  for (int64_t r = 0; r < env_.world_size; ++r) before[static_cast<size_t>(r)] = collectives_->heartbeat_of(r);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::vector<std::string> dead;
  for (int64_t r = 0; r < env_.world_size; ++r) {
    if (r == env_.rank) continue;
    const int64_t now = collectives_->heartbeat_of(r);
    if (now < 0) dead.push_back(fmt::format("rank {} (the store it hosts is unreachable)", r));
    else if (now == before[static_cast<size_t>(r)]) dead.push_back(fmt::format("rank {}", r));
  }
  if (dead.empty()) return "every rank's heartbeat is alive (a rank may be stuck in a different collective)";
  std::string s = "failed or silent: ";
  for (size_t i = 0; i < dead.size(); ++i) s += (i ? ", " : "") + dead[i];
  return s;
}

}  // namespace vr::distributed
