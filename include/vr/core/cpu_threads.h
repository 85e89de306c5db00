// The one CPU thread policy of every command that runs a model (train, bench, eval, forward, generate):
//   num_threads > 0         that many;
//   local_world_size > 1    cores / local ranks each: ranks on one machine share its cores, so 2 CPU ranks do not
//                           oversubscribe;
//   otherwise               LibTorch's own count (physical cores).
// Each time LibTorch's intra-op pool and the BLAS pool get the same count (vr::compat::set_cpu_threads): loaded,
// the OpenBLAS pthread pool has one thread per logical CPU, which on top of LibTorch's team oversubscribes SMT
// machines (docs/benchmarks.md, "Threads").
#pragma once
#include <cstdint>

namespace vr {

void apply_thread_policy(int64_t num_threads, int64_t local_world_size = 1);

}  // namespace vr
