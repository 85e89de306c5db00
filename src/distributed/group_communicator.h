// Private to src/distributed: the Communicator of a run of several processes, over the c10d process group of
// process_group.h. The gradient reducer (bucket_reducer.cpp) shares it for its collectives and its bounded waits.
#pragma once
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "process_group.h"
#include "vr/distributed/communicator.h"
#include "vr/distributed/data_parallel.h"

namespace vr::distributed {

class GroupCommunicator final : public Communicator {
 public:
  GroupCommunicator(DistEnv env, DataParallelOptions opt, std::unique_ptr<Collectives> collectives);

  int64_t rank() const override { return env_.rank; }
  int64_t world_size() const override { return env_.world_size; }
  std::vector<double> all_reduce_sum(std::vector<double> values) override;
  std::string broadcast_text(const std::string& text, const std::string& what) override;
  int64_t verify_identical(const NamedTensors& named, bool bitwise, const std::string& when) override;
  void wait_for_main_rank(const std::string& what) override;
  std::string describe() const override;

  // For the reducer.
  Collectives& collectives() { return *collectives_; }
  const DistEnv& env() const { return env_; }
  const DataParallelOptions& options() const { return opt_; }
  // Where collectives run before the model exists (NCCL needs CUDA tensors); the reducer moves it to the model's.
  c10::Device device() const { return device_; }
  void set_device(c10::Device d) { device_ = d; }
  // Optimizer steps completed (names steps in messages; before the first, waits get dist.init_timeout_s).
  int64_t steps() const { return steps_; }
  void count_step() { ++steps_; }
  // Waits for `w` at most the phase's timeout; on failure or timeout prints one line naming this rank, `what`
  // and the silent ranks, and ends the process (exit 5): no rank may wait forever, and c10d's threads could
  // block a normal exit. `startup`: the start-up limit max(init_timeout_s, timeout_s).
  void wait(Pending& w, const std::string& what, bool startup = false);

 private:
  [[noreturn]] void fail(const std::string& what, double took_s, double limit_s, const std::string& reason);
  std::string silent_ranks();

  DistEnv env_;
  DataParallelOptions opt_;
  std::unique_ptr<Collectives> collectives_;
  c10::Device device_{c10::kCPU};
  int64_t steps_ = 0;
  int64_t main_rank_waits_ = 0;  // wait_for_main_rank calls so far: the store key of the next one
};

}  // namespace vr::distributed
