// Checkpoint layouts of vision-language models, and the one place where their names are mapped.
//
//   llava-hf   config.json model_type "llava" (LlavaForConditionalGeneration):
//              language_model.model.* / language_model.lm_head.weight / vision_tower.vision_model.* /
//              multi_modal_projector.linear_{1,2}.*   (transformers >= 4.52 names model.language_model.*,
//              model.vision_tower.*, model.multi_modal_projector.*, lm_head.weight are read too)
//   llava      original LLaVA / Bunny (model_type llava_llama, bunny-llama, ... with mm_* fields, SPEC §2.4, §2.6):
//              model.* + lm_head.weight (the LLM), model.mm_projector.{0,2}.* (or .weight/.bias for "linear"),
//              model.vision_tower.vision_tower.vision_model.* (often absent: the tower comes from mm_vision_tower)
//   parts      an HF Llama directory + a vision encoder directory (CLIPModel / SiglipModel, vision_model.* used)
//              + an optional projector file (stage-1 mm_projector.bin, non_lora_trainables.bin, or safetensors)
// In memory the model always uses the llava-hf names (see lvlm.h); saving writes llava-hf by default.
#pragma once
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "vr/core/tensor_files.h"
#include "vr/model/layout_names.h"
#include "vr/model/lvlm.h"

namespace vr::model {

enum class LvlmLayout { kLlavaHf, kLlava, kLlamaOnly };
const char* layout_name(LvlmLayout l);  // "llava-hf", "llava", "llama"
LvlmLayout detect_layout(const std::string& dir);  // from config.json

struct LvlmLoadOptions {
  std::string path;       // llava-hf dir, LLaVA/Bunny dir, or an HF Llama dir (then `vision` is required)
  std::string vision;     // vision encoder dir: required for Llama dirs; for LLaVA/Bunny dirs it overrides
                          // mm_vision_tower (which is also tried as a local directory)
  std::string projector;  // projector file replacing (or, for Llama dirs, providing) the projector weights;
                          // without one a Llama dir gets a freshly initialised projector (stage-1 start)
  std::string projector_type = "mlp2x_gelu";  // for Llama dirs
  int64_t select_layer = -2;                  // for Llama dirs (LLaVA/Bunny dirs use their config)
  std::string select_feature = "patch";       // for Llama dirs
  std::optional<at::ScalarType> dtype;  // parameters are created in this dtype (no fp32 copy first)
  std::optional<c10::Device> device;    // ... and moved there before the weights are copied in
};

Lvlm load_lvlm(const LvlmLoadOptions& options);
// Detects the layout of `path` (agreed interface for the trainer).
Lvlm load_lvlm(const std::string& path, std::optional<at::ScalarType> dtype = std::nullopt,
               std::optional<c10::Device> device = std::nullopt);

// llava-hf layout with a config.json that transformers' LlavaForConditionalGeneration loads. Its
// image_token_index is hf_image_token_index(config, tokenizer_dir).
void save_lvlm(Lvlm& model, const std::string& dir, const std::string& tokenizer_dir = "");

// The image token id a llava-hf config.json carries. transformers embeds input_ids before it splices the image
// features in (4.44 legacy merge and >= 4.45 expanded tokens alike), so the id must lie in [0, vocab_size): the
// model's own id when it does; for the LLaVA/Bunny placeholder -200 the tokenizer's "<image>" token, else its
// highest-numbered "<|reserved_special_token_N|>" (Llama-3: 128255, never produced from text), both read from
// tokenizer.json (added_tokens) or tokenizer_config.json (added_tokens_decoder) in `tokenizer_dir`. A vr::Error
// when there is no such token: writing -200 would give a config transformers cannot run.
int64_t hf_image_token_index(const LvlmConfig& config, const std::string& tokenizer_dir);
// Original LLaVA/Bunny layout (tower weights included, tower config embedded as "vision_config").
void save_lvlm_llava(Lvlm& model, const std::string& dir);
// Stage-1 projector file as LLaVA writes it: {model.mm_projector.{0,2}.{weight,bias}} in a torch.save zip.
void save_projector_bin(Lvlm& model, const std::string& path);

// Projector weights from any projector file, as {"linear_1.weight", ...}: keys are cut after "mm_projector."
// (LLaVA's rule; covers mm_projector.bin and non_lora_trainables.bin) or after "multi_modal_projector.".
StateDict read_projector_file(const std::string& path);

}  // namespace vr::model
