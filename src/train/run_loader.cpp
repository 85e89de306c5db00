#include "vr/train/run_loader.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/data/loader.h"
#include "vr/image/image_processor.h"
#include "vr/model/lvlm.h"
#include "vr/model/model_configs.h"
#include "vr/text/tokenizer.h"
#include "vr/train/run_config.h"
#include "vr/train/run_options.h"

namespace vr::train {

namespace {

// F, the merged slots of one image (576 CLIP ViT-L/14-336, 729 SigLIP-384), read from model.path's config.json
// without loading weights: llava-hf configs carry the tower; LLaVA/Bunny configs name it (mm_vision_tower) or
// embed it (vision_config, as vrtrain writes them).
int64_t image_tokens_of(const std::string& model_path) {
  const auto j = read_json_file((std::filesystem::path(model_path) / "config.json").string());
  if (j.value("model_type", std::string()) == "llava") return model::LvlmConfig::from_json(j).image_seq_length();
  model::LvlmConfig c;
  if (j.contains("vision_config")) c.vision = model::VisionConfig::from_json(j["vision_config"]);
  else if (auto named = model::find_named_vision_config(j.value("mm_vision_tower", std::string()))) c.vision = *named;
  else
    VR_FAIL("data.packing: cannot tell the image tokens per image from {}/config.json (mm_vision_tower '{}' is not a "
            "known tower); use a llava-hf directory",
            model_path, j.value("mm_vision_tower", std::string()));
  c.vision_feature_select = j.value("mm_vision_select_feature", std::string("patch"));
  return c.image_seq_length();
}

}  // namespace

std::unique_ptr<data::DataLoader> make_run_loader(const RunConfig& cfg, const RunContext& ctx, int64_t batch_size) {
  auto dataset = data::open_dataset(dataset_options(cfg));
  auto tok = text::Tokenizer::from_path(cfg.model.path);
  auto proc = image::ImageProcessor::from_path(cfg.model.path);
  data::LoaderOptions opt = loader_options(cfg, ctx, batch_size);
  // Calibration loaders (batch_size 1: one sample per row for layer scores) stay unpacked.
  if (batch_size > 0) opt.packing.enabled = false;
  if (opt.packing.enabled) opt.packing.image_tokens = image_tokens_of(cfg.model.path);
  return std::make_unique<data::DataLoader>(dataset, tok, proc, image::parse_aspect_mode(cfg.data.image_aspect_ratio),
                                            cfg.data.template_name, opt);
}

}  // namespace vr::train
