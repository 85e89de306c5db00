// The c10d-backed GradientSync (LibTorch's ProcessGroupGloo on CPU, ProcessGroupNCCL on CUDA, TCPStore for
// rendezvous) and the factory that picks single-process or data-parallel from environment + config.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "vr/distributed/gradient_sync.h"
#include "vr/distributed/rendezvous.h"

namespace vr::distributed {

struct DataParallelOptions {
  std::string backend = "auto";  // auto | nccl | gloo (auto: nccl when the model is on CUDA, else gloo)
  bool cuda = false;             // the model lives on CUDA (device = local rank)
  double init_timeout_s = 300;   // rendezvous, weight broadcast and the first step
  double timeout_s = 100;        // every later collective
  double bucket_mb = 25;         // gradient bucket cap in MiB (fp32 elements)
  bool overlap = true;           // start buckets from gradient hooks during backward (false: all after backward)
  bool shard_optimizer = false;  // ZeRO stage 1/2: gradients reduce-scattered, optimizer state partitioned
};

// world_size 1: SingleProcessSync. Otherwise connects to the TCPStore at master_addr:master_port (rank 0 hosts
// it) and creates the process group; throws vr::Error naming the address on a failed rendezvous.
std::unique_ptr<GradientSync> make_gradient_sync(const DistEnv& env, const DataParallelOptions& opt);

// Whether this build can create an NCCL process group (LibTorch with CUDA and c10d NCCL).
bool nccl_compiled();

}  // namespace vr::distributed
