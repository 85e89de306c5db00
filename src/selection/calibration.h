// Running calibration batches through the model for the activation-based strategies (attention,
// block_influence): no gradients, eval mode (restored afterwards), inputs moved to the model's device.
#pragma once
#include <functional>

#include "vr/model/lvlm.h"
#include "vr/selection/selection.h"

namespace vr::selection {

// Calls visit(output) for calibration batches until at least cfg.calibration_samples rows were seen (whole
// batches) or the data ends. Returns the number of rows seen; throws when the context has no model or data.
int64_t run_calibration(const SelectionConfig& cfg, SelectionContext& ctx, const std::string& strategy,
                        bool output_attentions, const std::function<void(const vr::model::LvlmOutput&)>& visit);

}  // namespace vr::selection
