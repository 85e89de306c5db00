// A tiny stand-in for the LVLM with llava-hf parameter names, and a TrainTask over deterministic random data,
// so the trainer's loop, freezing and resume can be tested in milliseconds.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "vr/train/trainer.h"

namespace vr::test {

struct ToyNorm : torch::nn::Module {
  explicit ToyNorm(int64_t d) { weight = register_parameter("weight", torch::ones({d})); }
  at::Tensor weight;
};

struct ToyMlp : torch::nn::Module {
  explicit ToyMlp(int64_t d) { down_proj = register_module("down_proj", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false))); }
  torch::nn::Linear down_proj{nullptr};
};

struct ToyLayer : torch::nn::Module {
  explicit ToyLayer(int64_t d) {
    input_layernorm = register_module("input_layernorm", std::make_shared<ToyNorm>(d));
    mlp = register_module("mlp", std::make_shared<ToyMlp>(d));
  }
  at::Tensor forward(const at::Tensor& h) {
    return h + torch::tanh(mlp->down_proj(h * input_layernorm->weight));
  }
  std::shared_ptr<ToyNorm> input_layernorm;
  std::shared_ptr<ToyMlp> mlp;
};

struct ToyProjector : torch::nn::Module {
  explicit ToyProjector(int64_t d) { linear_1 = register_module("linear_1", torch::nn::Linear(d, d)); }
  torch::nn::Linear linear_1{nullptr};
};

struct ToyDecoder : torch::nn::Module {
  ToyDecoder(int64_t d, int64_t n_layers) {
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < n_layers; ++i) layers->push_back(std::make_shared<ToyLayer>(d));
  }
  torch::nn::ModuleList layers{nullptr};
};

struct ToyLm : torch::nn::Module {
  ToyLm(int64_t d, int64_t n_layers) {
    model = register_module("model", std::make_shared<ToyDecoder>(d, n_layers));
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(d, 1).bias(false)));
  }
  std::shared_ptr<ToyDecoder> model;
  torch::nn::Linear lm_head{nullptr};
};

// vision_tower.vision_model.w, multi_modal_projector.linear_1.{weight,bias},
// language_model.model.layers.{i}.{input_layernorm.weight,mlp.down_proj.weight}, language_model.lm_head.weight
struct ToyLvlm : torch::nn::Module {
  ToyLvlm(int64_t d = 8, int64_t n_layers = 4) {
    torch::manual_seed(7);
    auto tower = std::make_shared<torch::nn::Module>();
    auto vm = std::make_shared<torch::nn::Module>();
    vision_w = vm->register_parameter("w", torch::randn({d, d}) / std::sqrt(static_cast<double>(d)));
    tower->register_module("vision_model", vm);
    register_module("vision_tower", tower);
    projector = register_module("multi_modal_projector", std::make_shared<ToyProjector>(d));
    language_model = register_module("language_model", std::make_shared<ToyLm>(d, n_layers));
  }
  at::Tensor forward(const at::Tensor& x, double dropout_p) {
    auto h = projector->linear_1(torch::matmul(x, vision_w));
    h = torch::dropout(h, dropout_p, is_training());
    for (const auto& layer : *language_model->model->layers) h = layer->as<ToyLayer>()->forward(h);
    return language_model->lm_head(h).squeeze(-1);
  }
  at::Tensor vision_w;
  std::shared_ptr<ToyProjector> projector;
  std::shared_ptr<ToyLm> language_model;
};

// Regression y = sum(x) on samples drawn from a generator seeded by the sample index: the "loader position" is
// just the index of the next sample, so data order is reproducible across a resume.
class ToyTask : public vr::train::TrainTask {
 public:
  ToyTask(std::shared_ptr<ToyLvlm> model, int64_t batch, int64_t samples_per_epoch, double dropout = 0.1)
      : model_(std::move(model)), batch_(batch), samples_(samples_per_epoch), dropout_(dropout) {}
  torch::nn::Module& module() override { return *model_; }
  vr::train::MicroBatchOutput forward_next() override {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1000 + position_);
    auto x = torch::randn({batch_, 8}, gen);
    auto y = x.sum(-1);
    vr::train::MicroBatchOutput out;
    out.loss = torch::mse_loss(model_->forward(x, dropout_), y);
    if (position_ == nan_at_) out.loss = out.loss * std::numeric_limits<double>::quiet_NaN();
    out.tokens = batch_ * 8;
    out.sample_ids = {"toy-" + std::to_string(position_)};
    ++position_;
    return out;
  }
  int64_t batches_per_epoch() const override { return samples_ / batch_; }
  int64_t epoch() const override { return position_ / batches_per_epoch(); }
  nlohmann::json data_state() const override { return {{"position", position_}}; }
  void restore_data_state(const nlohmann::json& s) override { position_ = s.at("position").get<int64_t>(); }
  void export_final(const std::string& dir) override { exported_to = dir; }

  int64_t nan_at_ = -1;  // position whose loss becomes NaN
  std::string exported_to;

 private:
  std::shared_ptr<ToyLvlm> model_;
  int64_t batch_, samples_;
  double dropout_;
  int64_t position_ = 0;
};

}  // namespace vr::test
