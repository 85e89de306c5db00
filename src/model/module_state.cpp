#include "vr/model/module_state.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"

namespace vr::model {

StateDict module_state_dict(const torch::nn::Module& m) {
  StateDict out;
  for (const auto& kv : m.named_parameters(/*recurse=*/true)) out[kv.key()] = kv.value().detach();
  return out;
}

KeyReport load_module_state(torch::nn::Module& m, const StateDict& state, const std::string& source,
                            std::optional<at::ScalarType> dtype,
                            const std::function<bool(const std::string&)>& ignore) {
  KeyReport report;
  auto params = m.named_parameters(/*recurse=*/true);
  for (const auto& kv : params) {
    auto it = state.find(kv.key());
    if (it == state.end()) {
      report.missing.push_back(kv.key());
      continue;
    }
    if (it->second.sizes() != kv.value().sizes())
      report.mismatched.push_back(kv.key() + ": checkpoint " + vr::shape_string(it->second.sizes()) + " vs model " +
                                  vr::shape_string(kv.value().sizes()));
  }
  for (const auto& [name, t] : state)
    if (!params.contains(name) && !(ignore && ignore(name))) report.unexpected.push_back(name);
  VR_CHECK(report.ok(), "{}: checkpoint does not fit the model: {}", source, report.describe());

  torch::NoGradGuard no_grad;
  for (auto& kv : params) {
    auto& p = kv.value();
    const auto& src = state.at(kv.key());
    auto target = dtype ? *dtype : p.scalar_type();
    // A fresh contiguous copy: checkpoint tensors may be read-only views on a memory-mapped file.
    p.set_data(src.to(p.device(), target, /*non_blocking=*/false, /*copy=*/true).contiguous());
  }
  return report;
}

}  // namespace vr::model
