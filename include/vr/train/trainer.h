// The training loop: resume, then per optimizer step train_step (micro-batches → backward → gradient sync →
// clip → AdamW; vr/train/train_step.h), metrics and progress, and a checkpoint when one is due
// (vr/train/checkpointer.h); at the end the cross-rank weight check and the HF-format export. The model and data
// sit behind TrainTask, so the loop is the same for the LVLM (lvlm_task.h) and for the small models of the tests.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/train/run_config.h"
#include "vr/train/run_figures.h"

namespace torch::nn {
class Module;
}
namespace vr::train {

struct RunContext;

struct MicroBatchOutput {
  at::Tensor loss;                       // [] mean CE of the micro-batch, graph attached
  int64_t tokens = 0;                    // non-padding positions (text + image)
  at::Tensor tokens_tensor;              // the same count as a [] tensor (may live on the device); when defined,
                                         // the trainer reads it with the step's losses (one host sync per step)
  int64_t images = 0;
  int64_t supervised_tokens = -1;        // label positions the loss averages over (-1: unknown; needed by
                                         // train.loss_normalization=token)
  std::vector<std::string> sample_ids;   // for error reports
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual torch::nn::Module& module() = 0;
  virtual MicroBatchOutput forward_next() = 0;      // pulls the next micro-batch and runs the forward pass
  virtual int64_t batches_per_epoch() const = 0;    // micro-batches per epoch
  virtual int64_t epoch() const = 0;
  virtual nlohmann::json data_state() const = 0;    // loader position (epoch, index, seed), JSON
  virtual void restore_data_state(const nlohmann::json& state) = 0;
  virtual void export_final(const std::string& dir) = 0;  // HF-format model for `vrtrain forward`
  // The FLOPs a step of this rank must execute (model::training_step_flop_count(...).model(): recompute not
  // counted) for `tokens` merged non-padding tokens in `samples` samples with `images` images; nullopt where the
  // task has no FLOP model (then no MFU is reported).
  virtual std::optional<double> step_model_flops(int64_t tokens, int64_t samples, int64_t images) const {
    return std::nullopt;
  }
  // Task-specific figures of the step just run (this rank's micro-batches), merged into its metrics.jsonl line
  // and reset: LvlmTask gives samples, rows and the padding share (data.packing).
  virtual nlohmann::json take_step_metrics() { return nlohmann::json::object(); }
};

// Thrown when a loss or gradient norm is NaN/inf; the message names the step and the micro-batch's sample ids.
struct NonFiniteError : vr::Error {
  using vr::Error::Error;
};

struct TrainResult {
  int64_t steps_done = 0;       // optimizer steps completed in total (including before a resume)
  int64_t start_step = 0;       // step resumed from (0 for a fresh run)
  double first_loss = 0, last_loss = 0;
  double seconds = 0;
  int64_t tokens = 0, images = 0;
  bool stopped_early = false;   // train.stop_after_step hit
  std::string last_checkpoint;
  RunFigures figures;           // GPU peak maxima and rate medians of the steps this process ran
};

// Number of optimizer steps the run takes: max_steps, or epochs · max(1, floor(batches_per_epoch / grad_accum)).
int64_t total_optimizer_steps(const TrainSection& t, int64_t batches_per_epoch);

class Trainer {
 public:
  // `config_yaml` is saved with each checkpoint. `log` receives human-readable lines (progress etc.).
  // Gradients are averaged over ranks through ctx.reducer after each step's last micro-batch.
  Trainer(const RunConfig& cfg, const RunContext& ctx, TrainTask& task, std::string config_yaml,
          std::function<void(const std::string&)> log = nullptr);
  // One process (RunContext::single_process()): for tests and toy tasks.
  Trainer(const RunConfig& cfg, TrainTask& task, std::string config_yaml,
          std::function<void(const std::string&)> log = nullptr);
  ~Trainer();
  TrainResult run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vr::train
