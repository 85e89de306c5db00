// Loading HF LlamaForCausalLM checkpoints (config.json + safetensors, single or sharded) into the model.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/model/llama.h"
#include "vr/core/strings.h"
#include "vr/model/param_init.h"

namespace vr::model {

void load_llama_weights(LlamaForCausalLMImpl& model, const std::map<std::string, at::Tensor>& checkpoint,
                        const std::string& prefix, const std::string& source) {
  KeyReport report;
  auto params = model.named_parameters(/*recurse=*/true);
  std::vector<std::pair<at::Tensor, at::Tensor>> assign;  // (parameter, checkpoint tensor)
  for (const auto& item : params) {
    auto it = checkpoint.find(prefix + item.key());
    if (it == checkpoint.end()) {
      report.missing.push_back(prefix + item.key());
      continue;
    }
    if (it->second.sizes() != item.value().sizes()) {
      report.mismatched.push_back(fmt::format("{}: checkpoint {} vs model {}", it->first, c10::str(it->second.sizes()),
                                              c10::str(item.value().sizes())));
      continue;
    }
    assign.emplace_back(item.value(), it->second);
  }
  for (const auto& [name, t] : checkpoint) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    std::string local = name.substr(prefix.size());
    if (params.contains(local) || ends_with(local, "rotary_emb.inv_freq")) continue;
    if (local == "lm_head.weight" && model.config().tie_word_embeddings) continue;  // HF ignores it too
    report.unexpected.push_back(name);
  }
  VR_CHECK(report.ok() && report.unexpected.empty(), "{} does not fit a Llama model with {} layers: {}", source,
           model.config().num_hidden_layers, report.describe());

  torch::NoGradGuard no_grad;
  for (auto& [param, t] : assign) {
    VR_CHECK(t.is_floating_point(), "{}: tensor for a parameter of shape {} holds {}, not floating point", source,
             c10::str(param.sizes()), c10::toString(t.scalar_type()));
    // A private copy in the parameter's dtype: the checkpoint tensor may be a read-only view on a mapped file.
    param.set_data(t.to(param.device(), param.scalar_type(), /*non_blocking=*/false, /*copy=*/true).contiguous());
  }
}

LlamaForCausalLM load_llama(const std::string& dir, std::optional<at::ScalarType> dtype) {
  try {
    auto config = LlamaConfig::from_json(load_config_json(dir));
    LlamaForCausalLM model(nullptr);
    {
      DeferredInitGuard deferred;  // every weight is loaded next (vr/model/param_init.h)
      model = LlamaForCausalLM(config);
    }
    if (dtype) model->to(*dtype);
    load_llama_weights(*model, load_tensors(dir), "", "checkpoint '" + dir + "'");
    return model;
  } catch (const std::exception&) {
    rethrow_with_context("loading Llama model '" + dir + "'");
  }
}

}  // namespace vr::model
