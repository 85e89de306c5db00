// The TrainTask of a real run: an LVLM fed by the data loader. Also builds the pieces of a run from a RunConfig
// (model, tokenizer, image processor, loader), shared by `vrtrain train`, `vrtrain bench` and the tests.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "vr/train/prepare_run.h"
#include "vr/train/run_config.h"
#include "vr/train/trainable_params.h"
#include "vr/train/trainer.h"

namespace vr::model {
class Lvlm;
}
namespace vr::data {
class DataLoader;
}

namespace vr::train {

class LvlmTask : public TrainTask {
 public:
  // `loader` yields micro-batches of train.batch_size; `lora` true exports adapter + merged weights at the end.
  LvlmTask(std::shared_ptr<model::Lvlm> model, std::unique_ptr<data::DataLoader> loader, bool lora,
           std::string model_dir);
  ~LvlmTask() override;
  torch::nn::Module& module() override;
  MicroBatchOutput forward_next() override;
  int64_t batches_per_epoch() const override;
  int64_t epoch() const override;
  nlohmann::json data_state() const override;
  void restore_data_state(const nlohmann::json& state) override;
  void export_final(const std::string& dir) override;

 private:
  std::shared_ptr<model::Lvlm> model_;
  std::unique_ptr<data::DataLoader> loader_;
  bool lora_;
  std::string model_dir_;
  int64_t unsupervised_batches_ = 0;
};

// The loader of a run (tokenizer and image processor from model.path, dataset from data.*), shuffled with
// train.seed; `batch_size` overrides train.batch_size when > 0. `rank` of `world_size` takes its slice of each
// global batch (vr/data/sampler.h).
std::unique_ptr<data::DataLoader> make_run_loader(const RunConfig& cfg, int64_t batch_size = 0, int64_t rank = 0,
                                                  int64_t world_size = 1);

}  // namespace vr::train
