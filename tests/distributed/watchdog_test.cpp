// The start-up watchdog: it ends the process at its deadline with the phase, the limit and the real elapsed time,
// and never when disarmed in time.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "vr/distributed/watchdog.h"

namespace distributed_watchdog_test {

TEST(Watchdog, EndsAStuckPhaseAtTheDeadlineWithTheElapsedTime) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        vr::distributed::Watchdog dog(3, 0.3, "dist.init_timeout_s");
        dog.phase("creating the gloo process group", "a firewall between the nodes?");
        std::this_thread::sleep_for(std::chrono::seconds(30));  // a library call that never returns
      },
      ::testing::ExitedWithCode(5),
      "\\[rank 3\\] error: creating the gloo process group did not finish within dist.init_timeout_s = 0.3 s "
      "\\(0\\.[3-9] s since the start-up began\\); stopped by the watchdog: a firewall between the nodes\\?");
}

TEST(Watchdog, DisarmedInTimeItDoesNothing) {
  const auto t0 = std::chrono::steady_clock::now();
  {
    vr::distributed::Watchdog dog(0, 0.2, "dist.init_timeout_s");
    dog.phase("quick");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }  // disarmed by the destructor, which must not wait for the deadline
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
}

TEST(Watchdog, MessageStatesTheRealElapsedTime) {
  EXPECT_EQ(vr::distributed::Watchdog::expiry_message(1, "the rendezvous at h:1", 31.04, 30, "dist.init_timeout_s", ""),
            "[rank 1] error: the rendezvous at h:1 did not finish within dist.init_timeout_s = 30 s (31.0 s since "
            "the start-up began); stopped by the watchdog");
}

}  // namespace distributed_watchdog_test
