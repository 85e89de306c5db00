// Data parallelism over c10d (LibTorch's ProcessGroupGloo on CPU, ProcessGroupNCCL on CUDA, TCPStore for
// rendezvous): the factory that gives a run its Communicator and GradientReducer, single-process or not.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "vr/distributed/communicator.h"
#include "vr/distributed/gradient_reducer.h"
#include "vr/distributed/rendezvous.h"

namespace vr::distributed {

struct DataParallelOptions {
  std::string backend = "auto";  // auto | nccl | gloo (auto: nccl when the model is on CUDA, else gloo)
  bool cuda = false;             // the model lives on CUDA, on device cuda_index (made current before NCCL starts)
  int64_t cuda_index = 0;
  double init_timeout_s = 300;   // rendezvous, weight broadcast and the first step
  double timeout_s = 100;        // every later collective
  double bucket_mb = 25;         // gradient bucket cap in MiB (fp32 elements)
  bool overlap = true;           // start buckets from gradient hooks during backward (false: all after backward)
  bool shard_optimizer = false;  // ZeRO: gradients reduce-scattered, optimizer state partitioned
  int64_t zero_stage = 2;        // with shard_optimizer: 2 reduces every micro-batch, 1 once per step
};

// The two halves a run sees: never null.
struct DataParallel {
  std::shared_ptr<Communicator> comm;
  std::shared_ptr<GradientReducer> reducer;
};

// world_size 1: the single-process pair. Otherwise connects to the TCPStore at master_addr:master_port (rank 0
// hosts it) and creates the process group; throws vr::Error naming the address on a failed rendezvous.
DataParallel make_data_parallel(const DistEnv& env, const DataParallelOptions& opt);

// Whether this build can create an NCCL process group (LibTorch with CUDA and c10d NCCL).
bool nccl_compiled();

}  // namespace vr::distributed
