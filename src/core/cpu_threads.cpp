#include "vr/core/cpu_threads.h"

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

#include "vr/core/torch_compat.h"

namespace vr {

void apply_thread_policy(int64_t num_threads, int64_t local_world_size) {
  if (num_threads > 0) {
    vr::compat::set_cpu_threads(static_cast<int>(num_threads));
  } else if (local_world_size > 1) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    vr::compat::set_cpu_threads(std::max(1, cores / static_cast<int>(local_world_size)));
  } else {
    vr::compat::set_cpu_threads(at::get_num_threads());
  }
}

}  // namespace vr
