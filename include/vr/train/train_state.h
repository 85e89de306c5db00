// Resumable training checkpoints: <output_dir>/checkpoints/step_<NNNNNNNN>/ holding
//   trainable.safetensors  the trainable tensors (model dtype) by parameter name
//   optimizer.safetensors  AdamW state: exp_avg.*, exp_avg_sq.*, master.* (fp32), step
//   rng.safetensors        generator states: "cpu" (and "cuda" when a GPU is in use)
//   state.json             step, data-loader position, schedule, counters, the resolved config
//   config.yaml            the resolved config, for people
// A checkpoint is written into a temporary sibling directory and renamed into place, so a crash mid-write never
// leaves a directory that looks complete; only the newest `keep_last` checkpoints are kept.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

namespace vr::train {

using TensorMap = std::map<std::string, at::Tensor>;

struct TrainCheckpoint {
  TensorMap trainable;
  TensorMap optimizer;
  TensorMap rng;
  nlohmann::json state;     // {"step": N, "data": {...}, ...}
  std::string config_yaml;
};

// Writes checkpoints/step_<step>/ atomically and deletes all but the newest keep_last. Returns its path.
std::string save_train_checkpoint(const std::string& output_dir, int64_t step, const TrainCheckpoint& ckpt,
                                  int64_t keep_last);
// Reads a checkpoint directory; throws vr::Error naming the missing or unreadable file.
TrainCheckpoint load_train_checkpoint(const std::string& dir);
// The newest complete checkpoint under <output_dir>/checkpoints, if any.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

// Global generator states (CPU; CUDA when available) as uint8 tensors, and their restoration.
TensorMap capture_rng_state();
void restore_rng_state(const TensorMap& state);

}  // namespace vr::train
