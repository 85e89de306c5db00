// Healing a pruned model (after ShortGPT / Gromov et al., arXiv 2403.17887: "healing" with a short fine-tune):
// train lm_head and the last k decoder layers of the pruned checkpoint for a few optimizer steps through the
// normal trainer (same data.*, train.* keys, metrics and final export as `vrtrain train`), everything else frozen
// (projector, vision tower, embeddings, the other layers). `vrtrain prune --method heal` calls it; so can the study.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vr/train/run_config.h"
#include "vr/train/trainer.h"

namespace vr::train {

struct HealOptions {
  RunConfig run;                  // data.*, train.* (lr, batch_size, seed, dtype, device ...) of the healing run;
                                  // model.path, output_dir, resume, stage and the selection are set by heal
  int64_t tune_last_layers = 3;   // k: the last k decoder layers train (with lm_head); clamped to the layer count
  int64_t steps = 20;             // optimizer steps (train.max_steps)
  std::string work_dir;           // the run directory: config.yaml, metrics.jsonl, final/
};

struct HealResult {
  std::string final_dir;            // <work_dir>/final: the healed HF checkpoint (llava-hf)
  std::vector<int64_t> tuned_layers;  // indices in the pruned model
  TrainResult train;
};

// Trains the pruned checkpoint `pruned_dir` as described above; `log` receives the trainer's progress lines.
HealResult heal_pruned_checkpoint(const std::string& pruned_dir, const HealOptions& options,
                                  std::function<void(const std::string&)> log = nullptr);

}  // namespace vr::train
