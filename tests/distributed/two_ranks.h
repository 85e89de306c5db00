// Two data-parallel ranks as two threads of this test process, over Gloo on loopback (30 s timeouts).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "vr/distributed/gradient_sync.h"

namespace vr::test {

// Runs body(rank, sync) on two threads, each with its own rank's sync (dist.bucket_mb = bucket_mb,
// dist.shard_optimizer = shard_optimizer); joins both and rethrows the first failure.
void run_two_ranks(double bucket_mb, bool shard_optimizer,
                   const std::function<void(int64_t rank, std::shared_ptr<vr::distributed::GradientSync> sync)>& body);

}  // namespace vr::test
