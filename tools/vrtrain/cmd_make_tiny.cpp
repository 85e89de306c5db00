// `vrtrain make-tiny`: write a tiny random LVLM in Hugging Face llava-hf layout for smoke runs and tests.
#include <cstdio>
#include <string>
#include <vector>

#include "vr/core/error.h"
#include "vr/train/tiny_model.h"
#include "vrtrain/command.h"

namespace {

const char* kHelp =
    "vrtrain make-tiny: write a tiny random vision-language model in Hugging Face llava-hf layout.\n\n"
    "Usage: vrtrain make-tiny --output DIR [--family llava|bunny] [--seed N] [size options]\n\n"
    "  --output DIR       directory to create (replaced if it exists)\n"
    "  --family NAME      llava (default): CLIP-style tower + Llama-2-style LLM (MHA, rope 1e4), <s>/</s> tokens\n"
    "                     bunny: SigLIP-style tower + Llama-3-style LLM (GQA, rope 5e5), <|end_of_text|> tokens\n"
    "  --seed N           seed of the random weights (default 0)\n\n"
    "Size options (defaults give the tiny test model; larger values make benchmark models):\n"
    "  --layers N         decoder layers (default 8)\n"
    "  --hidden H         LLM width (default 64; a multiple of 2 x heads)\n"
    "  --intermediate I   MLP width (default 2 x hidden)\n"
    "  --heads N          attention heads (default 4, even; bunny uses heads/2 key-value heads)\n"
    "  --image-size S     input pixels per side, a multiple of 14 (default 56: 16 image tokens)\n\n"
    "By default the model has 8 decoder layers of width 64, a 56x56-pixel vision tower (16 image tokens) and a small\n"
    "byte-level BPE tokenizer; files: config.json, model.safetensors, tokenizer.json, tokenizer_config.json,\n"
    "preprocessor_config.json. It trains in seconds on a CPU:\n"
    "  vrtrain make-tiny --output models/tiny\n"
    "  vrtrain --config configs/tiny_synthetic.yaml\n";

int run_make_tiny(const std::vector<std::string>& args) {
  vr::train::TinyModelOptions opt;
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      VR_CHECK(i + 1 < args.size(), "make-tiny: {} needs a value", a);
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    } else if (a == "--output") {
      out = value();
    } else if (a == "--family") {
      opt.family = value();
    } else if (a == "--seed") {
      opt.seed = vr::cli::parse_int_arg(a, value());
    } else if (a == "--layers") {
      opt.num_layers = vr::cli::parse_int_arg(a, value());
    } else if (a == "--hidden") {
      opt.hidden_size = vr::cli::parse_int_arg(a, value());
    } else if (a == "--intermediate") {
      opt.intermediate_size = vr::cli::parse_int_arg(a, value());
    } else if (a == "--heads") {
      opt.num_heads = vr::cli::parse_int_arg(a, value());
    } else if (a == "--image-size") {
      opt.image_size = vr::cli::parse_int_arg(a, value());
    } else {
      VR_FAIL("make-tiny: unknown option '{}' (see vrtrain make-tiny --help)", a);
    }
  }
  VR_CHECK(!out.empty(), "make-tiny: --output DIR is required");
  vr::train::make_tiny_model(out, opt);
  std::printf("wrote tiny %s model (seed %lld) to %s\n", opt.family.c_str(), static_cast<long long>(opt.seed),
              out.c_str());
  return 0;
}

vr::cli::Registration reg{"make-tiny", "Write a tiny random LVLM (HF layout) for smoke runs and tests",
                          &run_make_tiny};

}  // namespace
