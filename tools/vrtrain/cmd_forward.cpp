// `vrtrain forward`: run a Hugging Face checkpoint on tensors from a safetensors file and write its outputs.
// The model kind comes from config.json's model_type; each kind has one function below (Llama now; the vision
// kinds plug in the same way).
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/llama.h"
#include "vrtrain/command.h"
#include "vrtrain/forward_vision.h"

namespace {

using TensorMap = std::map<std::string, at::Tensor>;

struct ForwardOptions {
  std::string model_dir, inputs_path, output_path;
  at::ScalarType dtype = at::kFloat;
  bool hidden_states = true;
};

const char* kHelp =
    "vrtrain forward: run a Hugging Face checkpoint on given token ids and save what it computes.\n"
    "\n"
    "Usage:\n"
    "  vrtrain forward --model DIR --inputs IN.safetensors --output OUT.safetensors\n"
    "                  [--dtype fp32|bf16] [--threads N] [--no-hidden-states]\n"
    "\n"
    "  --model DIR          HF checkpoint directory: config.json + model.safetensors (or sharded\n"
    "                       model-0000k-of-0000n.safetensors + model.safetensors.index.json).\n"
    "                       The model kind is read from config.json \"model_type\" (supported: llama).\n"
    "  --inputs FILE        safetensors file with the batch:\n"
    "                         input_ids       [B,T] int64/int32  token ids (required)\n"
    "                         attention_mask  [B,T] int          1 = token, 0 = padding (optional; default all 1)\n"
    "                         position_ids    [B,T] int64        (optional; default 0..T-1 for every row, as HF)\n"
    "                         labels          [B,T] int64        targets, -100 = ignored (optional)\n"
    "  --output FILE        safetensors file written with (all float32):\n"
    "                         logits          [B,T,V]\n"
    "                         hidden_states.i [B,T,H] for i = 0..L: 0 = token embeddings, i = output of\n"
    "                                         decoder layer i-1, L = final-norm output (HF convention)\n"
    "                         loss            []  mean cross-entropy of logits[:, :-1] vs labels[:, 1:]\n"
    "                                         over labels != -100 (only when labels are given)\n"
    "  --dtype fp32|bf16    weights and activations dtype (default fp32; softmax/RMSNorm run in fp32 either way)\n"
    "  --threads N          CPU threads for LibTorch (default: LibTorch's choice; 1 = closest to references)\n"
    "  --no-hidden-states   skip hidden_states.* (saves memory and disk on large models)\n"
    "\n"
    "Example (compare against a Python reference run of the same inputs):\n"
    "  vrtrain forward --model ckpt/llama_gqa --inputs batch.safetensors --output out.safetensors --threads 1\n";

at::Tensor require(const TensorMap& inputs, const std::string& name, const std::string& file) {
  auto it = inputs.find(name);
  if (it != inputs.end()) return it->second;
  std::string have;
  for (const auto& kv : inputs) have += (have.empty() ? "" : ", ") + kv.first;
  VR_FAIL("inputs file '{}' has no tensor '{}' (it has: {})", file, name, have.empty() ? "nothing" : have);
}

at::Tensor optional_tensor(const TensorMap& inputs, const std::string& name) {
  auto it = inputs.find(name);
  return it == inputs.end() ? at::Tensor() : it->second;
}

// ---- one function per model kind -----------------------------------------------------------------------------

TensorMap forward_llama(const ForwardOptions& opt, const TensorMap& inputs) {
  vr::model::LlamaInputs in;  // checked before the (possibly slow) model load
  in.input_ids = require(inputs, "input_ids", opt.inputs_path);
  in.attention_mask = optional_tensor(inputs, "attention_mask");
  in.position_ids = optional_tensor(inputs, "position_ids");
  in.labels = optional_tensor(inputs, "labels");
  in.output_hidden_states = opt.hidden_states;
  VR_CHECK(in.input_ids.dim() == 2, "input_ids in '{}' must be [B,T], got shape {}", opt.inputs_path,
           c10::str(in.input_ids.sizes()));
  auto check_like_ids = [&](const at::Tensor& t, const char* name) {
    if (t.defined())
      VR_CHECK(t.sizes() == in.input_ids.sizes(), "{} in '{}' must have input_ids' shape {}, got {}", name,
               opt.inputs_path, c10::str(in.input_ids.sizes()), c10::str(t.sizes()));
  };
  check_like_ids(in.attention_mask, "attention_mask");
  check_like_ids(in.position_ids, "position_ids");
  check_like_ids(in.labels, "labels");
  if (in.position_ids.defined()) in.position_ids = in.position_ids.to(at::kLong);

  auto model = vr::model::load_llama(opt.model_dir, opt.dtype);
  model->eval();

  torch::NoGradGuard no_grad;
  auto out = model->forward(in);
  TensorMap result{{"logits", out.logits.to(at::kFloat)}};
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    result["hidden_states." + std::to_string(i)] = out.hidden_states[i].to(at::kFloat);
  if (out.loss.defined()) result["loss"] = out.loss.to(at::kFloat);
  return result;
}

using ForwardFn = std::function<TensorMap(const ForwardOptions&, const TensorMap&)>;

const std::map<std::string, ForwardFn>& forward_kinds() {
  static const std::map<std::string, ForwardFn> kinds = [] {
    std::map<std::string, ForwardFn> k{{"llama", forward_llama}};
    // Vision-language and bare vision checkpoints: tools/vrtrain/forward_vision.cpp.
    for (const auto& t : vr::cli::lvlm_model_types())
      k[t] = [](const ForwardOptions& o, const TensorMap& in) {
        return vr::cli::forward_lvlm(o.model_dir, in, o.inputs_path, o.dtype, o.hidden_states);
      };
    for (const auto& t : vr::cli::vision_model_types())
      k[t] = [](const ForwardOptions& o, const TensorMap& in) {
        return vr::cli::forward_vision_encoder(o.model_dir, in, o.inputs_path, o.dtype, o.hidden_states);
      };
    return k;
  }();
  return kinds;
}

// ---- command line --------------------------------------------------------------------------------------------

int run_forward(const std::vector<std::string>& args) {
  ForwardOptions opt;
  std::optional<int> threads;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kHelp, stdout);
      std::fputs(vr::cli::forward_vision_help(), stdout);
      return 0;
    }
    if (a == "--no-hidden-states") {
      opt.hidden_states = false;
      continue;
    }
    const bool takes_value = a == "--model" || a == "--inputs" || a == "--output" || a == "--dtype" || a == "--threads";
    VR_CHECK(takes_value, "unknown option '{}' (see `vrtrain forward --help`)", a);
    VR_CHECK(i + 1 < args.size(), "option {} needs a value (see `vrtrain forward --help`)", a);
    const std::string& v = args[++i];
    if (a == "--model") {
      opt.model_dir = v;
    } else if (a == "--inputs") {
      opt.inputs_path = v;
    } else if (a == "--output") {
      opt.output_path = v;
    } else if (a == "--dtype") {
      VR_CHECK(v == "fp32" || v == "bf16", "--dtype must be fp32 or bf16, got '{}'", v);
      opt.dtype = v == "bf16" ? at::kBFloat16 : at::kFloat;
    } else {  // --threads
      try {
        threads = std::stoi(v);
      } catch (const std::exception&) {
        VR_FAIL("--threads needs a positive integer, got '{}'", v);
      }
      VR_CHECK(*threads > 0, "--threads needs a positive integer, got '{}'", v);
    }
  }
  VR_CHECK(!opt.model_dir.empty() && !opt.inputs_path.empty() && !opt.output_path.empty(),
           "--model, --inputs and --output are required (see `vrtrain forward --help`)");
  if (threads) torch::set_num_threads(*threads);

  auto config = vr::load_config_json(opt.model_dir);
  std::string kind = config.value("model_type", std::string());
  auto it = forward_kinds().find(kind);
  if (it == forward_kinds().end()) {
    std::string known;
    for (const auto& kv : forward_kinds()) known += (known.empty() ? "" : ", ") + kv.first;
    VR_FAIL("{}/config.json: model_type '{}' is not supported by `vrtrain forward` (supported: {})", opt.model_dir,
            kind, known);
  }
  auto inputs = vr::load_safetensors(opt.inputs_path);
  auto outputs = it->second(opt, inputs);
  vr::save_safetensors(opt.output_path, outputs);
  std::printf("wrote %zu tensors to %s\n", outputs.size(), opt.output_path.c_str());
  return 0;
}

vr::cli::Registration reg{"forward", "Run a checkpoint on token ids from a file; save logits, hidden states, loss",
                          &run_forward};

}  // namespace
