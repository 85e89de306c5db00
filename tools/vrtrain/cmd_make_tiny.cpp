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

const char* kFooter =
    "Size options: the defaults give the tiny test model; larger values make benchmark models.\n"
    "By default the model has 8 decoder layers of width 64, a 56x56-pixel vision tower (16 image tokens) and a small\n"
    "byte-level BPE tokenizer; files: config.json, model.safetensors, tokenizer.json, tokenizer_config.json,\n"
    "preprocessor_config.json. It trains in seconds on a CPU:\n"
    "  vrtrain make-tiny --output models/tiny\n"
    "  vrtrain --config configs/tiny_synthetic.yaml\n";

int run_make_tiny(const std::vector<std::string>& args) {
  vr::model::TinyModelOptions opt;
  std::string out;
  CLI::App app = vr::cli::make_app("make-tiny", kDescription, kFooter);
  vr::cli::set_usage(app, "vrtrain make-tiny --output DIR [--family llava|bunny] [--seed N] [size options]");
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
  if (auto code = vr::cli::parse(app, args)) return *code;
  vr::model::make_tiny_model(out, opt);
  std::printf("wrote tiny %s model (seed %lld) to %s\n", opt.family.c_str(), static_cast<long long>(opt.seed),
              out.c_str());
  return 0;
}

vr::cli::Registration registration_make_tiny{"make-tiny", "Write a tiny random LVLM (HF layout) for smoke runs and tests",
                          &run_make_tiny};

}  // namespace cmd_make_tiny
