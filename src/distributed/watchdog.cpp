#include "vr/distributed/watchdog.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace vr::distributed {

Watchdog::Watchdog(int64_t rank, double limit_s, std::string limit_name)
    : rank_(rank), limit_s_(limit_s), limit_name_(std::move(limit_name)), start_(std::chrono::steady_clock::now()) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() { disarm(); }

void Watchdog::phase(std::string what, std::string hint) {
  std::lock_guard<std::mutex> lock(mutex_);
  what_ = std::move(what);
  hint_ = std::move(hint);
}

double Watchdog::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Watchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Watchdog::expiry_message(int64_t rank, const std::string& what, double elapsed_s, double limit_s,
                                     const std::string& limit_name, const std::string& hint) {
  return fmt::format("[rank {}] error: {} did not finish within {} = {:g} s ({:.1f} s since the start-up began); "
                     "stopped by the watchdog{}{}",
                     rank, what, limit_name, limit_s, elapsed_s, hint.empty() ? "" : ": ", hint);
}

void Watchdog::run() {
  const auto deadline = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(limit_s_));
  std::unique_lock<std::mutex> lock(mutex_);
  if (cv_.wait_until(lock, deadline, [this] { return done_; })) return;
  // The guarded call is stuck inside a library: say where, then end the process without running destructors
  // (they would wait for the very threads that are stuck).
  const std::string line = expiry_message(rank_, what_, elapsed_s(), limit_s_, limit_name_, hint_);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(5);
}

}  // namespace vr::distributed
