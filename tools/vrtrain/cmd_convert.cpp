// `vrtrain convert`: any supported vision-language checkpoint layout → llava-hf (or the original LLaVA layout).
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/model/layouts.h"
#include "vrtrain/command.h"

namespace {

const char* kHelp =
    "vrtrain convert: turn a vision-language checkpoint into the llava-hf layout\n"
    "(LlavaForConditionalGeneration: language_model.*, vision_tower.*, multi_modal_projector.*), which vrtrain\n"
    "and Hugging Face transformers both load.\n"
    "\n"
    "Usage:\n"
    "  vrtrain convert --input PATH [--vision DIR] [--projector FILE] --output DIR\n"
    "                  [--dtype keep|fp32|bf16|fp16] [--layout llava-hf|llava] [--projector-type T]\n"
    "                  [--select-layer N] [--select-feature patch|cls_patch]\n"
    "\n"
    "  --input PATH      one of:\n"
    "                      llava-hf directory (config.json model_type \"llava\")\n"
    "                      original LLaVA / Bunny directory (model.*, model.mm_projector.*, optional\n"
    "                      model.vision_tower.vision_tower.*; config.json with mm_* fields)\n"
    "                      HF Llama directory (then --vision is required: assembling from parts)\n"
    "                    weights as model*.safetensors, or pytorch_model*.bin (torch.save zip archives)\n"
    "  --vision DIR      vision encoder: a CLIPModel / SiglipModel / *VisionModel directory (only\n"
    "                    vision_model.* is used). For LLaVA/Bunny directories it replaces the tower named by\n"
    "                    mm_vision_tower (which is used directly when it is a local directory)\n"
    "  --projector FILE  projector weights: LLaVA's stage-1 mm_projector.bin, non_lora_trainables.bin, or a\n"
    "                    safetensors file (keys cut after \"mm_projector.\" as LLaVA does). Without it a Llama\n"
    "                    directory gets a freshly initialised projector\n"
    "  --output DIR      written atomically: config.json, generation_config.json, model.safetensors (sharded\n"
    "                    above 5 GiB with model.safetensors.index.json)\n"
    "  --dtype D         weights dtype of the output (default keep: config.json \"torch_dtype\" of the input,\n"
    "                    float32 when it has none)\n"
    "  --layout L        llava-hf (default) or llava (original LLaVA/Bunny names, tower config embedded)\n"
    "  --projector-type  for Llama directories: mlp2x_gelu (default), linear, identity\n"
    "  --select-layer N, --select-feature F   for Llama directories (defaults -2, patch)\n"
    "\n"
    "Examples:\n"
    "  vrtrain convert --input liuhaotian/llava-v1.5-7b --vision openai/clip-vit-large-patch14-336 \\\n"
    "                  --output llava-1.5-7b-hf --dtype fp16\n"
    "  vrtrain convert --input Meta-Llama-3-8B-Instruct --vision siglip-so400m-patch14-384 \\\n"
    "                  --projector bunny-pretrain-llama3-8b-siglip/mm_projector.bin --output bunny-stage1\n"
    "Note: LLaVA/Bunny checkpoints use the placeholder id -200 for <image>; it is kept as image_token_index.\n"
    "transformers' own LLaVA forward needs a vocabulary id there, so feed it expanded image tokens of a real id.\n";

int run_convert(const std::vector<std::string>& args) {
  vr::model::LvlmLoadOptions o;
  std::string output, layout = "llava-hf", dtype = "keep";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
    VR_CHECK(a == "--input" || a == "--vision" || a == "--projector" || a == "--output" || a == "--dtype" ||
                 a == "--layout" || a == "--projector-type" || a == "--select-layer" || a == "--select-feature",
             "unknown option '{}' (see `vrtrain convert --help`)", a);
    VR_CHECK(i + 1 < args.size(), "option {} needs a value (see `vrtrain convert --help`)", a);
    const std::string& v = args[++i];
    if (a == "--input") o.path = v;
    else if (a == "--vision") o.vision = v;
    else if (a == "--projector") o.projector = v;
    else if (a == "--output") output = v;
    else if (a == "--dtype") dtype = v;
    else if (a == "--layout") layout = v;
    else if (a == "--projector-type") o.projector_type = v;
    else if (a == "--select-feature") o.select_feature = v;
    else {
      try {
        o.select_layer = std::stoll(v);
      } catch (const std::exception&) {
        VR_FAIL("--select-layer needs an integer, got '{}'", v);
      }
    }
  }
  VR_CHECK(!o.path.empty() && !output.empty(), "--input and --output are required (see `vrtrain convert --help`)");
  VR_CHECK(layout == "llava-hf" || layout == "llava", "--layout must be llava-hf or llava, got '{}'", layout);
  if (dtype == "fp32") o.dtype = at::kFloat;
  else if (dtype == "bf16") o.dtype = at::kBFloat16;
  else if (dtype == "fp16") o.dtype = at::kHalf;
  else {
    VR_CHECK(dtype == "keep", "--dtype must be keep, fp32, bf16 or fp16, got '{}'", dtype);
    auto j = vr::load_config_json(o.path);
    std::string td = j.value("torch_dtype", std::string());
    if (td.empty() && j.contains("text_config") && j["text_config"].is_object())
      td = j["text_config"].value("torch_dtype", std::string());
    if (td == "bfloat16") o.dtype = at::kBFloat16;
    else if (td == "float16") o.dtype = at::kHalf;
  }

  auto in_layout = vr::model::detect_layout(o.path);
  auto model = vr::model::load_lvlm(o);
  if (layout == "llava-hf") vr::model::save_lvlm(model, output);
  else vr::model::save_lvlm_llava(model, output);
  std::printf("converted %s (%s layout, %lld parameters) -> %s (%s layout)\n", o.path.c_str(),
              vr::model::layout_name(in_layout), static_cast<long long>(model->config().num_parameters()),
              output.c_str(), layout.c_str());
  return 0;
}

vr::cli::Registration reg{"convert", "Convert a LLaVA/Bunny/parts checkpoint to the llava-hf layout", &run_convert};

}  // namespace
