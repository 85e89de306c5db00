// The TrainTask of a real run: an LVLM fed by the run's data loader (run_loader.h), batches moved to the run's
// device, the final model exported by final_export.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json.hpp>

#include <c10/core/Device.h>

#include "vr/train/trainer.h"

namespace vr::model {
class Lvlm;
}
namespace vr::model {
struct LvlmInputs;
}
namespace vr::data {
class DataLoader;
struct Batch;
}

namespace vr::train {

struct RunContext;

// The model inputs of a collated batch (ids, labels, mask, images, packed segments), on the batch's device, the
// loss computed on supervised positions only (return_logits false), as training runs the model.
model::LvlmInputs model_inputs(const data::Batch& b);

class LvlmTask : public TrainTask {
 public:
  // `loader` yields micro-batches of train.batch_size; `lora` true exports adapter + merged weights at the end.
  LvlmTask(std::shared_ptr<model::Lvlm> model, std::unique_ptr<data::DataLoader> loader, const RunContext& ctx,
           bool lora, std::string model_dir);
  ~LvlmTask() override;
  torch::nn::Module& module() override;
  MicroBatchOutput forward_next() override;
  int64_t batches_per_epoch() const override;
  int64_t epoch() const override;
  nlohmann::json data_state() const override;
  void restore_data_state(const nlohmann::json& state) override;
  void export_final(const std::string& dir) override;
  // vr/model/flops.h with this model's shapes and trainable set; M = tokens / samples (the mean merged length:
  // the attention term assumes equal lengths).
  std::optional<double> step_model_flops(int64_t tokens, int64_t samples, int64_t images) const override;

  // What the micro-batches since the last call held (data.packing or not): samples, rows, real merged tokens
  // and merged slots (rows x merged length); padding_share = 1 - tokens / slots. Reset by the call. For the
  // step's line in metrics.jsonl: the trainer merges it there once it has the hook (docs/packing.md).
  nlohmann::json take_step_metrics() override;

 private:
  std::shared_ptr<model::Lvlm> model_;
  std::unique_ptr<data::DataLoader> loader_;
  c10::Device device_;
  bool lora_;
  std::string model_dir_;
  int64_t unsupervised_batches_ = 0;
  int64_t step_samples_ = 0, step_rows_ = 0, step_slots_ = 0;
  std::vector<at::Tensor> step_tokens_;  // [] per micro-batch, read once in take_step_metrics (no sync per batch)
};

}  // namespace vr::train
