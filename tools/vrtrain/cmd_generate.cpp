// `vrtrain generate`: decoding with a KV cache, exact to Hugging Face generate().
//   scripting mode  --inputs IN.safetensors --output OUT.safetensors: tensors in, tensors out (conformance)
//   people's mode   --prompt TEXT [--image PATH]... or --batch-file Q.jsonl: chat template, tokenizer, streaming
//                   (tools/vrtrain/generate_chat.cpp)
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/core/shape_string.h"
#include "vr/core/tensor_files.h"
#include "vr/model/generate.h"
#include "vr/model/generate_config.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm_generate.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"
#include "vrtrain/forward_vision.h"
#include "vrtrain/generate_chat.h"

namespace vr::cli {
namespace cmd_generate {  // not anonymous: unity builds put several commands in one translation unit

using TensorMap = std::map<std::string, at::Tensor>;

const char* kFooter = R"(Scripting mode (--inputs/--output), the contract of HF generate(do_sample=False, num_beams=1,
use_cache=True, output_logits=True, return_dict_in_generate=True):
  IN   input_ids       [B,T] int   prompts, LEFT-padded (required)
       attention_mask  [B,T] int   0 on the left padding (optional; default all 1)
       pixel_values    [N,3,S,S]   LVLM only: one image per <image> placeholder, in row-major order
  OUT  sequences       [B,T+n]     input_ids followed by the generated ids
       generated_ids   [B,n]       after a row emitted eos its later ids are the pad id
       step_logits     [n,B,V] f32 raw next-token logits of every step
       unfinished      [B,n]       1 where the id was the model's choice, 0 where it was forced to pad
       final_attention_mask [B,S+n]  the mask over the prefill (S = T, or the merged length for an LVLM) + steps
       prompt_length   []          S
  Defaults as HF: eos and pad ids from generation_config.json, or without one from config.json (then its
  text_config); no pad id = the first eos id; max new tokens = generation_config max_new_tokens, else max_length (20) - T.
  Sampling options apply here too (--do-sample, --temperature, --top-k, --top-p, --seed).

People's mode (--prompt or --batch-file): the prompt goes through the conversation template and the checkpoint's
tokenizer (tokenizer.json beside the model, or --tokenizer), images through its preprocessor
(preprocessor_config.json, or --processor), and the answer is streamed to stdout as it is decoded; generation stops
at eos, at a --stop string or after --max-new-tokens (default 256). --batch-file reads JSON lines
{"prompt": "...", "images": ["a.jpg"]} and runs them batched with left padding, answers as JSON lines.

Examples:
  vrtrain generate --model runs/tiny_synthetic/final --inputs in.safetensors --output out.safetensors
  vrtrain generate --model llava-1.5-7b-hf --image cat.jpg --prompt "What is in the picture?"
  vrtrain generate --model llama3 --prompt "Tell me a joke" --template llama3 --temperature 0.7 --top-p 0.9 --seed 1
)";

struct ScriptOptions {
  std::string model_dir, inputs_path, output_path, generation_config;
  std::optional<int64_t> max_new_tokens, pad_token_id;
  std::vector<int64_t> eos_token_ids;
  bool no_eos = false;
  bool timing = false;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int run_script(const ScriptOptions& so, const SharedGenerateFlags& shared) {
  const TensorMap in = vr::load_safetensors(so.inputs_path);
  at::Tensor ids = vr::require_tensor(in, "input_ids", so.inputs_path);
  VR_CHECK(ids.dim() == 2 && !at::isFloatingType(ids.scalar_type()),
           "input_ids in '{}' must be integer ids [B,T], got {} {}", so.inputs_path, c10::toString(ids.scalar_type()),
           vr::shape_string(ids.sizes()));
  at::Tensor mask = vr::optional_tensor(in, "attention_mask");
  if (mask.defined())
    VR_CHECK(mask.sizes() == ids.sizes(), "attention_mask in '{}' must have input_ids' shape {}, got {}",
             so.inputs_path, vr::shape_string(ids.sizes()), vr::shape_string(mask.sizes()));
  at::Tensor pixels = vr::optional_tensor(in, "pixel_values");

  auto settings = vr::model::read_generation_settings(so.model_dir, so.generation_config);
  vr::model::GenerateOptions opt = shared.options(settings);
  if (!so.eos_token_ids.empty()) opt.eos_token_ids = so.eos_token_ids;
  if (so.no_eos) opt.eos_token_ids.clear();
  opt.pad_token_id = so.pad_token_id ? *so.pad_token_id : settings.resolved_pad_token_id();
  opt.max_new_tokens = so.max_new_tokens ? *so.max_new_tokens : settings.resolved_max_new_tokens(ids.size(1));

  // --timing: prefill = until the first id is chosen (the prompt's forward), decode = the remaining steps.
  Clock::time_point start;
  double prefill_s = 0;
  if (so.timing)
    opt.on_step = [&](int64_t step, const at::Tensor&) {
      if (step == 0) prefill_s = seconds_since(start);
      return std::vector<int64_t>{};
    };

  const auto load_start = Clock::now();
  const std::string kind = vr::load_config_json(so.model_dir).value("model_type", std::string());
  vr::model::GenerateResult r;
  double load_s = 0;
  if (kind == "llama") {
    VR_CHECK(!pixels.defined(), "inputs file '{}' holds pixel_values but {} is a text-only Llama checkpoint",
             so.inputs_path, so.model_dir);
    auto model = vr::model::load_llama(so.model_dir, shared.dtype());
    model->eval();
    vr::model::LlamaInputs prompt;
    prompt.input_ids = ids.to(at::kLong);
    prompt.attention_mask = mask;
    load_s = seconds_since(load_start);
    start = Clock::now();
    r = vr::model::generate_llama(*model, prompt, opt);
  } else {
    bool lvlm = false;
    for (const auto& t : lvlm_model_types()) lvlm = lvlm || t == kind;
    VR_CHECK(lvlm, "{}/config.json: model_type '{}' cannot generate (llama, llava, llava_llama, bunny-llama)",
             so.model_dir, kind);
    auto model = vr::model::load_lvlm(so.model_dir, shared.dtype());
    model->eval();
    load_s = seconds_since(load_start);
    start = Clock::now();
    r = vr::model::generate_lvlm(*model, ids, mask, pixels, opt);
  }
  const double total_s = seconds_since(start);
  TensorMap out{{"sequences", r.sequences},
                {"generated_ids", r.generated_ids},
                {"step_logits", r.step_logits.to(at::kFloat)},
                {"unfinished", r.unfinished},
                {"final_attention_mask", r.attention_mask},
                {"prompt_length", at::scalar_tensor(r.prompt_length, at::kLong)}};
  vr::save_safetensors(so.output_path, out);
  if (so.timing) {
    const int64_t n = r.generated_ids.size(1), B = r.generated_ids.size(0);
    std::printf("timing: load_s=%.4f prefill_s=%.4f decode_s=%.4f total_s=%.4f rows=%lld new_tokens=%lld "
                "prompt_positions=%lld tokens_per_s=%.2f\n",
                load_s, prefill_s, total_s - prefill_s, total_s, static_cast<long long>(B), static_cast<long long>(n),
                static_cast<long long>(r.prompt_length), total_s > 0 ? static_cast<double>(B * n) / total_s : 0.0);
  }
  std::printf("generated %lld ids for %lld rows; wrote %s\n", static_cast<long long>(r.generated_ids.size(1)),
              static_cast<long long>(r.generated_ids.size(0)), so.output_path.c_str());
  return 0;
}

int run_generate(const std::vector<std::string>& args) {
  CLI::App app = make_app("generate", "Generate text with a KV cache (greedy by default), exact to HF generate().",
                          kFooter);
  ScriptOptions so;
  SharedGenerateFlags shared;
  ChatOptions chat;
  app.add_option("--model", so.model_dir, "checkpoint directory (llava-hf, LLaVA/Bunny, or HF Llama)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--inputs", so.inputs_path, "scripting mode: safetensors with input_ids, attention_mask, pixel_values")
      ->check(CLI::ExistingFile);
  app.add_option("--output", so.output_path, "scripting mode: safetensors written with the results");
  app.add_option("--max-new-tokens", so.max_new_tokens, "new ids per row at most");
  app.add_option("--eos-token-id", so.eos_token_ids, "eos id (repeatable); default from the checkpoint");
  app.add_flag("--no-eos", so.no_eos, "never stop early at an eos id");
  app.add_option("--pad-token-id", so.pad_token_id, "id given to finished rows; default from the checkpoint");
  app.add_flag("--timing", so.timing, "scripting mode: print load, prefill and decode seconds and tokens/s");
  app.add_option("--generation-config", so.generation_config, "a generation_config.json to use instead of the model's")
      ->check(CLI::ExistingFile);
  shared.add(app);
  chat.add(app);
  if (auto code = parse(app, args)) return *code;
  shared.apply_threads();

  const bool script = !so.inputs_path.empty();
  if (script) {
    VR_CHECK(!so.output_path.empty(), "--inputs needs --output (see `vrtrain generate --help`)");
    VR_CHECK(!chat.active(), "--inputs (scripting mode) cannot be combined with --prompt/--batch-file/--image");
    return run_script(so, shared);
  }
  VR_CHECK(so.output_path.empty(), "--output belongs to scripting mode: give --inputs too");
  VR_CHECK(chat.active(), "give --prompt TEXT (or --batch-file Q.jsonl), or --inputs/--output for scripting mode "
                          "(see `vrtrain generate --help`)");
  ChatRun run;
  run.model_dir = so.model_dir;
  run.generation_config = so.generation_config;
  run.max_new_tokens = so.max_new_tokens;
  run.eos_token_ids = so.eos_token_ids;
  run.no_eos = so.no_eos;
  run.pad_token_id = so.pad_token_id;
  return run_chat(chat, run, shared);
}

Registration registration_generate{"generate", "generate text (KV cache, greedy or sampled): tensors in/out, or a prompt and images",
                 &run_generate};

}  // namespace cmd_generate
}  // namespace vr::cli
