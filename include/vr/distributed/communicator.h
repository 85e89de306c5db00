// The run's communicator: who this rank is, and the few collectives the trainer needs besides gradients (the
// step's scalars, a result computed on rank 0, weight checks, waiting for rank 0's checkpoint). Gradients go
// through GradientReducer (gradient_reducer.h). The single-process communicator is rank 0 of 1 and does nothing.
//
// Every collective is bounded in time: a failed or silent peer ends the process (exit 5) with one line naming
// this rank, the collective and the ranks whose heartbeat stopped, so no rank waits forever.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>

namespace vr::distributed {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int64_t rank() const { return 0; }
  virtual int64_t world_size() const { return 1; }
  // Element-wise sum over ranks (fp64): the step's non-finite flag, supervised tokens, loss sum, ...
  virtual std::vector<double> all_reduce_sum(std::vector<double> values) { return values; }
  // Rank 0's `text` on every rank (the others' argument is ignored); for results computed once, such as a
  // model-driven layer selection. `what` names it in a timeout message.
  virtual std::string broadcast_text(const std::string& text, const std::string& what) { return text; }
  // Throws vr::Error naming the first tensor that differs between ranks. `bitwise`: a hash of the bytes
  // (exact; copies to the CPU), else the fp64 sum of each tensor (cheap, catches different files or selections).
  // Returns how many tensors were compared (0 single process).
  virtual int64_t verify_identical(const NamedTensors& named, bool bitwise, const std::string& when) { return 0; }
  // Rank 0 did work the others must not run ahead of (writing a checkpoint): rank 0 calls this when it is done,
  // the others block until it has. However long the work takes, they wait while rank 0's heartbeat is alive
  // (a checkpoint of ~100 GB outlasts any collective timeout); a rank 0 that is gone or silent for
  // dist.timeout_s ends them, as a failed collective does. `what` names the work in messages.
  virtual void wait_for_main_rank(const std::string& what) {}
  // What the plan prints ("gloo, rank 0 of 2 (local 0 of 2, node 0), master 127.0.0.1:29500").
  virtual std::string describe() const { return "single process"; }
};

std::shared_ptr<Communicator> make_single_process_communicator();

}  // namespace vr::distributed
