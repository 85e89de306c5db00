// `vrtrain convert`: any supported vision-language checkpoint layout → llava-hf (or the original LLaVA layout).
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/model/layouts.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_convert {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription = R"(vrtrain convert: turn a vision-language checkpoint into the llava-hf layout
(LlavaForConditionalGeneration: language_model.*, vision_tower.*, multi_modal_projector.*), which vrtrain
and Hugging Face transformers both load.)";

const char* kFooter = R"(Examples:
  vrtrain convert --input liuhaotian/llava-v1.5-7b --vision openai/clip-vit-large-patch14-336 \
                  --output llava-1.5-7b-hf --dtype fp16
  vrtrain convert --input Meta-Llama-3-8B-Instruct --vision siglip-so400m-patch14-384 \
                  --projector bunny-pretrain-llama3-8b-siglip/mm_projector.bin --output bunny-stage1
Note: LLaVA/Bunny checkpoints use the placeholder id -200 for <image>; transformers embeds every input id, so
the llava-hf output's image_token_index is a vocabulary id (the model's, else the tokenizer's <image>, else its
last reserved special token; an error if none). mm_vision_select_feature patch maps to
vision_feature_select_strategy default for CLIP (drops the CLS token) and full for SigLIP (no CLS token).
)";

int run_convert(const std::vector<std::string>& args) {
  vr::model::LvlmLoadOptions o;
  std::string output, layout = "llava-hf", dtype = "keep";
  CLI::App app = vr::cli::make_app("convert", kDescription, kFooter);
  vr::cli::set_usage(app,
                     "vrtrain convert --input PATH [--vision DIR] [--projector FILE] --output DIR\n"
                     "                [--dtype keep|fp32|bf16|fp16] [--layout llava-hf|llava] [--projector-type T]\n"
                     "                [--select-layer N] [--select-feature patch|cls_patch]");
  app.add_option("--input", o.path,
                 "one of:\n"
                 "  llava-hf directory (config.json model_type \"llava\")\n"
                 "  original LLaVA / Bunny directory (model.*, model.mm_projector.*, optional\n"
                 "  model.vision_tower.vision_tower.*; config.json with mm_* fields)\n"
                 "  HF Llama directory (then --vision is required: assembling from parts)\n"
                 "weights as model*.safetensors, or pytorch_model*.bin (torch.save zip archives)")
      ->type_name("PATH")
      ->required();
  app.add_option("--vision", o.vision,
                 "vision encoder: a CLIPModel / SiglipModel / *VisionModel directory (only\n"
                 "vision_model.* is used). For LLaVA/Bunny directories it replaces the tower named by\n"
                 "mm_vision_tower (which is used directly when it is a local directory)")
      ->type_name("DIR");
  app.add_option("--projector", o.projector,
                 "projector weights: LLaVA's stage-1 mm_projector.bin, non_lora_trainables.bin, or a\n"
                 "safetensors file (keys cut after \"mm_projector.\" as LLaVA does). Without it a Llama\n"
                 "directory gets a freshly initialised projector")
      ->type_name("FILE");
  app.add_option("--output", output,
                 "written atomically: config.json, generation_config.json, model.safetensors (sharded\n"
                 "above 5 GiB with model.safetensors.index.json)")
      ->type_name("DIR")
      ->required();
  app.add_option("--dtype", dtype,
                 "weights dtype of the output (default keep: config.json \"torch_dtype\" of the input,\n"
                 "float32 when it has none)")
      ->type_name("D");
  app.add_option("--layout", layout, "llava-hf (default) or llava (original LLaVA/Bunny names, tower config embedded)")
      ->type_name("L");
  app.add_option("--projector-type", o.projector_type, "for Llama directories: mlp2x_gelu (default), linear, identity")
      ->type_name("T");
  vr::cli::add_int_option(app, "--select-layer", o.select_layer, "for Llama directories (default -2)");
  app.add_option("--select-feature", o.select_feature, "for Llama directories: patch (default) or cls_patch")
      ->type_name("F");
  if (auto code = vr::cli::parse(app, args)) return *code;
  if (layout != "llava-hf" && layout != "llava")
    return vr::cli::usage_error(app, "--layout must be llava-hf or llava, got '" + layout + "'");
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
  if (layout == "llava-hf") vr::model::save_lvlm(model, output, /*tokenizer_dir=*/o.path);
  else vr::model::save_lvlm_llava(model, output);
  std::printf("converted %s (%s layout, %lld parameters) -> %s (%s layout)\n", o.path.c_str(),
              vr::model::layout_name(in_layout), static_cast<long long>(model->config().num_parameters()),
              output.c_str(), layout.c_str());
  return 0;
}

vr::cli::Registration registration_convert{"convert", "Convert a LLaVA/Bunny/parts checkpoint to the llava-hf layout", &run_convert};

}  // namespace cmd_convert
