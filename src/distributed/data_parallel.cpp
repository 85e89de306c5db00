#include "vr/distributed/data_parallel.h"

#include <chrono>

#include "group_communicator.h"
#include "process_group.h"
#include "vr/core/error.h"
#include "vr/core/torch_compat.h"

namespace vr::distributed {

std::shared_ptr<GradientReducer> make_bucket_reducer(std::shared_ptr<GroupCommunicator> comm);  // bucket_reducer.cpp

bool nccl_compiled() { return nccl_available_in_build(); }

DataParallel make_data_parallel(const DistEnv& env, const DataParallelOptions& opt) {
  if (env.world_size == 1) return {make_single_process_communicator(), make_local_gradient_reducer()};
  std::string backend = opt.backend;
  if (backend == "auto") backend = opt.cuda ? "nccl" : "gloo";
  VR_CHECK(opt.timeout_s > 0 && opt.init_timeout_s > 0, "dist.timeout_s and dist.init_timeout_s must be > 0");
  VR_CHECK(opt.bucket_mb > 0, "dist.bucket_mb must be > 0, got {}", opt.bucket_mb);
  // NCCL binds its communicator to the current device when it is made: set this rank's first, or every rank
  // of the node would create its context on device 0.
  if (opt.cuda) compat::cuda_set_device(static_cast<int>(opt.cuda_index));
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  auto comm = std::make_shared<GroupCommunicator>(
      env, opt, connect_collectives(env, backend, ms(opt.init_timeout_s), ms(opt.timeout_s), opt.cuda));
  return {comm, make_bucket_reducer(comm)};
}

}  // namespace vr::distributed
