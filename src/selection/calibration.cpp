// Calibration forward passes shared by the attention and block_influence strategies.
#include "selection/calibration.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/data/batch.h"

namespace vr::selection {

int64_t for_each_calibration_batch(const SelectionConfig& cfg, SelectionContext& ctx, const std::string& strategy,
                                   const std::function<void(vr::model::LvlmImpl&, vr::model::LvlmInputs&)>& visit) {
  VR_CHECK(ctx.model && *ctx.model, "selection.strategy '{}' runs the model on calibration data, but no model was "
           "given (use `vrtrain score --config run.yaml` with model.path and data.*, or selection.scores_file)",
           strategy);
  VR_CHECK(static_cast<bool>(ctx.calibration_batches),
           "selection.strategy '{}' needs calibration data (data.* of the run config)", strategy);
  VR_CHECK(cfg.calibration_samples > 0, "selection.calibration_samples must be > 0, got {}", cfg.calibration_samples);
  vr::model::LvlmImpl& model = **ctx.model;
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const auto device = model.parameters().front().device();
  int64_t seen = 0;
  while (seen < cfg.calibration_samples) {
    std::optional<vr::data::Batch> batch = ctx.calibration_batches();
    if (!batch) break;
    vr::model::LvlmInputs in;
    in.input_ids = batch->input_ids.to(device);
    in.attention_mask = batch->attention_mask.to(device);
    if (batch->labels.defined()) in.labels = batch->labels.to(device);
    if (batch->pixel_values.defined() && batch->pixel_values.numel() > 0)
      in.pixel_values = batch->pixel_values.to(device);
    visit(model, in);
    seen += batch->input_ids.size(0);
  }
  model.train(was_training);
  VR_CHECK(seen > 0, "selection.strategy '{}': the calibration data gave no sample", strategy);
  return seen;
}

int64_t run_calibration(const SelectionConfig& cfg, SelectionContext& ctx, const std::string& strategy,
                        bool output_attentions, const std::function<void(const vr::model::LvlmOutput&)>& visit) {
  return for_each_calibration_batch(cfg, ctx, strategy, [&](vr::model::LvlmImpl& model, vr::model::LvlmInputs& in) {
    in.labels = at::Tensor();  // hidden states and attention maps need no loss
    in.output_hidden_states = !output_attentions;
    in.output_attentions = output_attentions;
    visit(model.forward(in));
  });
}

}  // namespace vr::selection
