// The run's checkpoints, as torchtitan's checkpoint manager: resume at the start, a save when one is due, and the
// final export. Files and atomicity: vr/train/train_state.h.
//
// Data parallel: the optimizer state is gathered on rank 0 when sharded (a collective), rank 0 alone writes, and
// the other ranks wait for it through Communicator::wait_for_main_rank, which allows the save as long as it
// takes while rank 0 is alive: a checkpoint of ~100 GB outlasts dist.timeout_s. Resume reads the same files on
// every rank (any world size, same global batch).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "vr/train/run_config.h"

namespace vr::distributed {
class Communicator;
}

namespace vr::train {

class AdamW;
class TrainTask;
struct TrainResult;

class Checkpointer {
 public:
  Checkpointer(const RunConfig& cfg, TrainTask& task, distributed::Communicator& comm, std::string config_yaml);

  // cfg.resume: "auto" (the newest checkpoint under output_dir, if any), "never", or a directory. Restores the
  // trainable weights, the optimizer, the generators and the loader position, and fills r's counters
  // (start_step, tokens, images, first_loss, last_checkpoint). Returns the directory resumed from.
  std::optional<std::string> resume(AdamW& opt, TrainResult& r);
  // After optimizer step `step` (1-based count): every train.save_every steps, at the last step, and at
  // train.stop_after_step.
  bool due(int64_t step, int64_t total_steps) const;
  // Collective. Sets r.last_checkpoint on rank 0.
  void save(AdamW& opt, int64_t step, TrainResult& r);
  // Rank 0: the HF-format model in <output_dir>/final (train.export_final, not after an early stop).
  void export_final(const TrainResult& r);

 private:
  const RunConfig& cfg_;
  TrainTask& task_;
  distributed::Communicator& comm_;
  std::string config_yaml_;
};

}  // namespace vr::train
