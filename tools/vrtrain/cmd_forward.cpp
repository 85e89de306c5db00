// `vrtrain forward`: run a Hugging Face checkpoint on tensors from a safetensors file and write its outputs.
// The model kind comes from config.json's model_type; each kind has one function below (Llama now; the vision
// kinds plug in the same way).
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/cpu_threads.h"
#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/llama.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"
#include "vrtrain/forward_vision.h"

namespace cmd_forward {  // not anonymous: unity builds put several commands in one translation unit

using TensorMap = std::map<std::string, at::Tensor>;

struct ForwardOptions {
  std::string model_dir, inputs_path, output_path;
  at::ScalarType dtype = at::kFloat;
  bool hidden_states = true;
};

const char* kDescription = "vrtrain forward: run a Hugging Face checkpoint on given token ids and save what it computes.";

const char* kFormats =
    "Inputs (--inputs, a safetensors file with the batch):\n"
    "  input_ids       [B,T] int64/int32  token ids (required)\n"
    "  attention_mask  [B,T] int          1 = token, 0 = padding (optional; default all 1)\n"
    "  position_ids    [B,T] int64        (optional; default 0..T-1 for every row, as HF)\n"
    "  labels          [B,T] int64        targets, -100 = ignored (optional)\n"
    "Outputs (--output, a safetensors file, all float32):\n"
    "  logits          [B,T,V]\n"
    "  hidden_states.i [B,T,H] for i = 0..L: 0 = token embeddings, i = output of\n"
    "                  decoder layer i-1, L = final-norm output (HF convention)\n"
    "  loss            []  mean cross-entropy of logits[:, :-1] vs labels[:, 1:]\n"
    "                  over labels != -100 (only when labels are given)\n";

const char* kExample =
    "\nExample (compare against a Python reference run of the same inputs):\n"
    "  vrtrain forward --model ckpt/llama_gqa --inputs batch.safetensors --output out.safetensors --threads 1\n";

// ---- one function per model kind -----------------------------------------------------------------------------

TensorMap forward_llama(const ForwardOptions& opt, const TensorMap& inputs) {
  vr::model::LlamaInputs in;  // checked before the (possibly slow) model load
  in.input_ids = vr::require_tensor(inputs, "input_ids", opt.inputs_path);
  in.attention_mask = vr::optional_tensor(inputs, "attention_mask");
  in.position_ids = vr::optional_tensor(inputs, "position_ids");
  in.labels = vr::optional_tensor(inputs, "labels");
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
  vr::cli::put_indexed_fp32(result, "hidden_states", out.hidden_states);
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
  int64_t threads = 0;
  std::string dtype = "fp32";
  bool no_hidden_states = false;
  CLI::App app = vr::cli::make_app("forward", kDescription,
                                   std::string(kFormats) + vr::cli::forward_vision_help() + kExample);
  vr::cli::set_usage(app,
                     "vrtrain forward --model DIR --inputs IN.safetensors --output OUT.safetensors\n"
                     "                [--dtype fp32|bf16] [--threads N] [--no-hidden-states]");
  app.add_option("--model", opt.model_dir,
                 "HF checkpoint directory: config.json + model.safetensors (or sharded\n"
                 "model-0000k-of-0000n.safetensors + model.safetensors.index.json).\n"
                 "The model kind is read from config.json \"model_type\" (llama, and the kinds below).")
      ->type_name("DIR")
      ->required();
  app.add_option("--inputs", opt.inputs_path, "safetensors file with the batch (tensors below)")
      ->type_name("FILE")
      ->required();
  app.add_option("--output", opt.output_path, "safetensors file to write (tensors below)")->type_name("FILE")->required();
  app.add_option("--dtype", dtype, "weights and activations dtype (default fp32; softmax/RMSNorm run in fp32 either way)")
      ->type_name("fp32|bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  vr::cli::add_int_option(app, "--threads", threads,
                          "CPU threads for LibTorch (default: LibTorch's choice; 1 = closest to references)");
  app.add_flag("--no-hidden-states", no_hidden_states, "skip hidden_states.* (saves memory and disk on large models)");
  if (auto code = vr::cli::parse(app, args)) return *code;
  opt.dtype = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  opt.hidden_states = !no_hidden_states;
  if (app.count("--threads") > 0 && threads <= 0)
    return vr::cli::usage_error(app, "--threads needs a positive integer, got " + std::to_string(threads));
  vr::apply_thread_policy(threads);

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

vr::cli::Registration registration_forward{"forward", "Run a checkpoint on token ids from a file; save logits, hidden states, loss",
                          &run_forward};

}  // namespace cmd_forward
