#include "vr/train/tiny_model_for_run.h"

#include <filesystem>

#include <fmt/format.h>

#include "vr/train/run_options.h"

namespace vr::train {

std::optional<std::string> make_tiny_model_if_missing(const RunConfig& cfg) {
  namespace fs = std::filesystem;
  if (cfg.model.make_tiny_family.empty() || fs::exists(fs::path(cfg.model.path) / "config.json")) return std::nullopt;
  const model::TinyModelOptions t = tiny_model_options(cfg);
  model::make_tiny_model(cfg.model.path, t);
  return fmt::format("created tiny {} model in {}", t.family, cfg.model.path);
}

}  // namespace vr::train
