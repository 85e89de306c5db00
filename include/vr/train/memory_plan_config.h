// The memory plan of a run config from shapes alone, without loading (or having) the weights: what
// `vrtrain bench --plan` prints, e.g. for Bunny-Llama-3-8B-V on a machine that could not hold it.
//   shapes      a named configuration (model_configs.h: llava-1.5-7b, bunny-llama-3-8b-v, ...) or an llava-hf
//               checkpoint's config.json
//   layers      selection.* as training resolves it for heuristic strategies (manual, uniform, ...); a
//               model-driven strategy without selection.scores_file stands in as uniform with its count (the plan
//               depends on how many layers train, not which, as long as the projector trains)
//   trainable   counted from shapes exactly as apply_freeze (trainable_params.h) counts the built model
#pragma once
#include <string>

#include "vr/model/lvlm.h"
#include "vr/train/memory_plan.h"
#include "vr/train/run_config.h"

namespace vr::train {

struct ShapeOnlyPlanInputs {
  MemoryPlanInputs inputs;
  std::string note;  // how the layers were chosen (one line)
};

// A named configuration when `name_or_dir` is one, else <dir>/config.json in the llava-hf layout.
model::LvlmConfig plan_model_config(const std::string& name_or_dir);

ShapeOnlyPlanInputs memory_plan_inputs_from_shapes(const RunConfig& cfg, const model::LvlmConfig& model);

// The printed report of `vrtrain bench --plan`: the run (model.path as a name or directory, train.batch_size x
// data.model_max_length merged tokens, dtype, checkpointing, layers), then the plan with eager and with fused
// attention (training uses fused where LibTorch has it, >= 2.0).
std::string shape_only_plan_report(const RunConfig& cfg);

}  // namespace vr::train
