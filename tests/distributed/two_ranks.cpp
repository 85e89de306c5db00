#include "distributed/two_ranks.h"

#include <exception>
#include <thread>

#include "distributed/free_port.h"

namespace vr::test {

void run_two_ranks(double bucket_mb, bool shard_optimizer,
                   const std::function<void(int64_t, vr::distributed::DataParallel)>& body, int64_t zero_stage) {
  const int port = free_port();
  std::exception_ptr err[2];
  auto rank_main = [&](int64_t r) {
    try {
      vr::distributed::DistEnv env;
      env.rank = r;
      env.world_size = 2;
      env.local_world_size = 2;
      env.local_rank = r;
      env.master_port = port;
      env.source = "test";
      vr::distributed::DataParallelOptions o;
      o.backend = "gloo";
      o.bucket_mb = bucket_mb;
      o.init_timeout_s = 30;
      o.timeout_s = 30;
      o.shard_optimizer = shard_optimizer;
      o.zero_stage = zero_stage;
      body(r, vr::distributed::make_data_parallel(env, o));
    } catch (...) {
      err[r] = std::current_exception();
    }
  };
  std::thread t0(rank_main, 0), t1(rank_main, 1);
  t0.join();
  t1.join();
  for (auto& e : err)
    if (e) std::rethrow_exception(e);
}

}  // namespace vr::test
