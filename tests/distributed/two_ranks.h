// Two data-parallel ranks as two threads of this test process, over Gloo on loopback (30 s timeouts).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "vr/distributed/data_parallel.h"

namespace vr::test {

// Runs body(rank, dp) on two threads, each with its own rank's communicator and gradient reducer
// (dist.bucket_mb = bucket_mb, dist.shard_optimizer = shard_optimizer, dist.zero_stage = zero_stage); joins both
// and rethrows the first failure.
void run_two_ranks(double bucket_mb, bool shard_optimizer,
                   const std::function<void(int64_t rank, vr::distributed::DataParallel dp)>& body,
                   int64_t zero_stage = 2);

}  // namespace vr::test
