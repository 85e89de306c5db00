// Copying tensors between a torch::nn::Module and a name → tensor map (a checkpoint's state dict).
// Names are the module's named_parameters() (the models here have no persistent buffers).
#pragma once
#include <optional>
#include <string>

#include <torch/nn/module.h>

#include "vr/core/tensor_files.h"

namespace vr::model {

// Every parameter, detached (shares storage with the module).
StateDict module_state_dict(const torch::nn::Module& m);

// Copies state[name] into each parameter (converted to the parameter's dtype, or to `dtype` when given, in
// which case the parameter takes that dtype). Keys for which `ignore(name)` is true are not reported as
// unexpected. Throws vr::Error naming `source` and the keys when something is missing or mis-shaped;
// returns the report (unexpected keys listed there).
KeyReport load_module_state(torch::nn::Module& m, const StateDict& state, const std::string& source,
                            std::optional<at::ScalarType> dtype = std::nullopt,
                            const std::function<bool(const std::string&)>& ignore = nullptr);

}  // namespace vr::model
