// `vrtrain make-tiny`: write a tiny random LVLM in Hugging Face llava-hf layout for smoke runs and tests.
#include <cstdio>
#include <string>
#include <vector>

#include "vr/core/error.h"
#include "vr/model/tiny_model.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_make_tiny {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription =
    "vrtrain make-tiny: write a tiny random vision-language model in Hugging Face llava-hf layout.";

const char* kFooter = R"(Size options: the defaults give the tiny test model; larger values make benchmark models.
By default the model has 8 decoder layers of width 64, a 56x56-pixel vision tower (16 image tokens) and a small
byte-level BPE tokenizer; files: config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
preprocessor_config.json. It trains in seconds on a CPU:
  vrtrain make-tiny --output models/tiny
  vrtrain --config configs/tiny_synthetic.yaml

--shapes NAME writes a random model at a named configuration's real width instead (bunny-llama-3-8b-v,
llava-1.5-7b, llava-1.5-13b) with its family's tiny tokenizer; --layers then cuts the decoder (default: all).
The GPU acceptance run (bench/gpu/acceptance.sh) times Bunny-8B-wide layers this way:
  vrtrain make-tiny --output /tmp/bunny4 --shapes bunny-llama-3-8b-v --layers 4 --dtype bf16
)";

int run_make_tiny(const std::vector<std::string>& args) {
  vr::model::TinyModelOptions opt;
  std::string out;
  CLI::App app = vr::cli::make_app("make-tiny", kDescription, kFooter);
  vr::cli::set_usage(app, "vrtrain make-tiny --output DIR [--family llava|bunny] [--seed N] [size options]\n"
                          "       vrtrain make-tiny --output DIR --shapes NAME [--layers N] [--seed N] [--dtype bf16]");
  app.add_option("--output", out, "directory to create (replaced if it exists)")->type_name("DIR")->required();
  app.add_option("--family", opt.family,
                 "llava (default): CLIP-style tower + Llama-2-style LLM (MHA, rope 1e4), <s>/</s> tokens\n"
                 "bunny: SigLIP-style tower + Llama-3-style LLM (GQA, rope 5e5), <|end_of_text|> tokens")
      ->type_name("NAME");
  vr::cli::add_int_option(app, "--seed", opt.seed, "seed of the random weights (default 0)");
  vr::cli::add_int_option(app, "--layers", opt.num_layers, "decoder layers (default 8)");
  vr::cli::add_int_option(app, "--hidden", opt.hidden_size, "LLM width (default 64; a multiple of 2 x heads)")
      ->type_name("H");
  vr::cli::add_int_option(app, "--intermediate", opt.intermediate_size, "MLP width (default 2 x hidden)")
      ->type_name("I");
  vr::cli::add_int_option(app, "--heads", opt.num_heads,
                          "attention heads (default 4, even; bunny uses heads/2 key-value heads)");
  vr::cli::add_int_option(app, "--image-size", opt.image_size,
                          "input pixels per side, a multiple of 14 (default 56: 16 image tokens)")
      ->type_name("S");
  app.add_option("--shapes", opt.shapes,
                 "a named configuration's widths instead of the size options (bunny-llama-3-8b-v, llava-1.5-7b,\n"
                 "llava-1.5-13b); the family follows from it")
      ->type_name("NAME");
  app.add_option("--dtype", opt.dtype, "stored weights: fp32 (default) or bf16")->type_name("T");
  if (auto code = vr::cli::parse(app, args)) return *code;
  if (!opt.shapes.empty()) {
    for (const char* flag : {"--family", "--hidden", "--intermediate", "--heads", "--image-size"})
      if (app.count(flag) > 0)
        return vr::cli::usage_error(app, std::string(flag) + " does not combine with --shapes (the widths come from it)");
    if (app.count("--layers") == 0) opt.num_layers = 0;  // all of the configuration's layers
  }
  vr::model::make_tiny_model(out, opt);
  const auto c = vr::model::tiny_model_config(opt);
  std::printf("wrote %s %s model (seed %lld, %lld parameters, %s) to %s\n", opt.shapes.empty() ? "tiny" : "real-width",
              opt.shapes.empty() ? opt.family.c_str() : opt.shapes.c_str(), static_cast<long long>(opt.seed),
              static_cast<long long>(c.num_parameters()), opt.dtype.c_str(), out.c_str());
  return 0;
}

vr::cli::Registration registration_make_tiny{"make-tiny", "Write a tiny random LVLM (HF layout) for smoke runs and tests",
                          &run_make_tiny};

}  // namespace cmd_make_tiny
