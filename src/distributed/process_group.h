// Private to src/distributed: the c10d process group behind GroupCommunicator and BucketReducer, with the few
// collectives they use, so the version differences of c10d (ProcessGroup in 1.13, Backend in 2.x) stay in
// process_group.cpp.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <ATen/Tensor.h>

#include "vr/distributed/rendezvous.h"

namespace vr::distributed {

enum class Reduce { sum, min, max };

// A collective in flight; wait() throws what c10d reports (peer closed the connection, timeout).
struct Pending {
  std::function<void(std::chrono::milliseconds)> wait;
};

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual std::string backend() const = 0;
  virtual Pending all_reduce(at::Tensor t, Reduce op) = 0;  // in place, contiguous
  virtual Pending broadcast(at::Tensor t, int64_t root) = 0;
  // ZeRO. flat: [W * s] contiguous, chunk r = rank r's part. all_gather: every rank's `part` ([s]) lands in chunk r
  // of every rank's `flat`. reduce_scatter: part = sum over ranks of their chunk `rank` of flat (NCCL, and Gloo on
  // LibTorch 2.x: 1.13's Gloo throws "does not support reduce_scatter", so the reducer all-reduces there). Both run
  // as flat collectives (_allgather_base / _reduce_scatter_base) straight into and out of `flat` where the
  // backend has them (NCCL; Gloo on 2.x): the list forms make NCCL allocate a flat temporary per call. 1.13's Gloo
  // keeps the list form of all_gather (views of `flat`, no copy on the CPU).
  virtual Pending all_gather(at::Tensor flat, at::Tensor part) = 0;
  virtual bool has_reduce_scatter() const = 0;
  virtual Pending reduce_scatter(at::Tensor flat, at::Tensor part) = 0;
  // Store access for liveness checks: a counter each rank bumps once a second; value -1 when unreadable.
  virtual int64_t heartbeat_of(int64_t rank) = 0;
  // Store flags, on a connection of their own: one rank sets `key`, the others poll it (no timeout of the
  // process group applies: Communicator::wait_for_main_rank bounds the wait by rank 0's heartbeat instead).
  virtual void set_flag(const std::string& key) = 0;
  virtual bool has_flag(const std::string& key) = 0;
};

// Creates the TCPStore (rank 0 serves it) and the process group; `backend` is "gloo" or "nccl". cuda_tensors: the
// collectives will carry CUDA tensors (Gloo then keeps to all-reduce and list all-gather: its flat collectives
// are probed on the CPU only).
std::unique_ptr<Collectives> connect_collectives(const DistEnv& env, const std::string& backend,
                                                 std::chrono::milliseconds init_timeout,
                                                 std::chrono::milliseconds op_timeout, bool cuda_tensors);
bool nccl_available_in_build();

}  // namespace vr::distributed
