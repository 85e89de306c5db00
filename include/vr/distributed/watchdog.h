// A deadline for library calls that cannot be interrupted (c10d's TCPStore connect, Gloo's full-mesh connect,
// NCCL's communicator init): a thread waits until the deadline and, unless the guarded work finished first, prints
// one line naming the phase in progress, the real elapsed time and a hint, and ends the process (exit code 5, as a
// failed collective). The blocked call itself is never unwound: there is no portable way to cancel it.
//
//   Watchdog dog(rank, 30.0, "dist.init_timeout_s");
//   dog.phase("rendezvous at 10.0.0.1:29500", "is rank 0 started?");
//   ... blocking calls ...
//   dog.disarm();  // or let it go out of scope
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace vr::distributed {

class Watchdog {
 public:
  // `limit_name` is the config key the limit comes from (it goes into the message).
  Watchdog(int64_t rank, double limit_s, std::string limit_name);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // The work now in progress, and what to check when it is the one that hangs.
  void phase(std::string what, std::string hint = "");
  // Seconds since construction.
  double elapsed_s() const;
  void disarm();

  // The line printed at the deadline (public for tests).
  static std::string expiry_message(int64_t rank, const std::string& what, double elapsed_s, double limit_s,
                                    const std::string& limit_name, const std::string& hint);

 private:
  void run();

  const int64_t rank_;
  const double limit_s_;
  const std::string limit_name_;
  const std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string what_ = "start-up", hint_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace vr::distributed
