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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

namespace torch::nn {
class Module;
}
namespace vr {
class SafetensorsFile;
}

namespace vr::train {

using TensorMap = std::map<std::string, at::Tensor>;

struct TrainCheckpoint {
  TensorMap trainable;
  TensorMap optimizer;
  TensorMap rng;
  nlohmann::json state;     // {"step": N, "data": {...}, ...}
  std::string config_yaml;
  // Set by load_train_checkpoint: the mapped files that `trainable` and `optimizer` are views of (nothing is
  // read into memory until a view is touched). released() gives a tensor's pages back once it is copied.
  std::shared_ptr<const SafetensorsFile> trainable_file, optimizer_file;
  // For streaming consumers: "trainable" or "optimizer" key -> release its pages (no-op for in-memory maps).
  void release_trainable(const std::string& name) const;
  void release_optimizer(const std::string& key) const;
};

// Writes checkpoints/step_<step>/ atomically and deletes all but the newest keep_last. Returns its path.
std::string save_train_checkpoint(const std::string& output_dir, int64_t step, const TrainCheckpoint& ckpt,
                                  int64_t keep_last);
// Opens a checkpoint directory; throws vr::Error naming the missing or unreadable file. The tensors are views on
// the mapped files, not copies: a checkpoint of S bytes costs no host memory until it is read, and a consumer
// that copies tensor by tensor and releases each (load_trainable_weights, AdamW::load_state_dict) keeps about
// one tensor resident at a time instead of S (docs/benchmarks.md, "Resume: host memory").
TrainCheckpoint load_train_checkpoint(const std::string& dir);
// Copies every trainable tensor of `model` (requires_grad) from c.trainable, to the parameter's device and dtype,
// releasing each once copied. Throws vr::Error naming `dir` and the tensor when one is missing or mis-shaped.
void load_trainable_weights(torch::nn::Module& model, const TrainCheckpoint& c, const std::string& dir);
// The newest complete checkpoint under <output_dir>/checkpoints, if any.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

// Global generator states (CPU; CUDA when available) as uint8 tensors, and their restoration.
TensorMap capture_rng_state();
void restore_rng_state(const TensorMap& state);

}  // namespace vr::train
