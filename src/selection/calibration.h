// Running calibration batches through the model for the activation-based strategies (attention,
// block_influence): no gradients, eval mode (restored afterwards), inputs moved to the model's device.
#pragma once
#include <functional>

#include "vr/model/lvlm.h"
#include "vr/selection/selection.h"

namespace vr::selection {

// The strategies that score layers by running the model on calibration data (attention, block_influence, angular,
// layer_contribution, triplet): they use scores and need the model; each says only how it scores.
struct CalibrationScoredSelector : LayerSelector {
  bool uses_scores() const override { return true; }
  bool needs_model() const override { return true; }
};

// Calls visit(output) for calibration batches until at least cfg.calibration_samples rows were seen (whole
// batches) or the data ends. Returns the number of rows seen; throws when the context has no model or data.
int64_t run_calibration(const SelectionConfig& cfg, SelectionContext& ctx, const std::string& strategy,
                        bool output_attentions, const std::function<void(const vr::model::LvlmOutput&)>& visit);

// The loop under run_calibration, for strategies that run the model themselves (layer_contribution runs it L + 1
// times per batch): visit(model, inputs) per batch, inputs on the model's device with the batch's labels.
int64_t for_each_calibration_batch(const SelectionConfig& cfg, SelectionContext& ctx, const std::string& strategy,
                                   const std::function<void(vr::model::LvlmImpl&, vr::model::LvlmInputs&)>& visit);

}  // namespace vr::selection
