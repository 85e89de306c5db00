#include "vr/train/run_loader.h"

#include "vr/data/loader.h"
#include "vr/image/image_processor.h"
#include "vr/text/tokenizer.h"
#include "vr/train/run_options.h"

namespace vr::train {

std::unique_ptr<data::DataLoader> make_run_loader(const RunConfig& cfg, const RunContext& ctx, int64_t batch_size) {
  auto dataset = data::open_dataset(dataset_options(cfg));
  auto tok = text::Tokenizer::from_path(cfg.model.path);
  auto proc = image::ImageProcessor::from_path(cfg.model.path);
  return std::make_unique<data::DataLoader>(dataset, tok, proc, image::parse_aspect_mode(cfg.data.image_aspect_ratio),
                                            cfg.data.template_name, loader_options(cfg, ctx, batch_size));
}

}  // namespace vr::train
