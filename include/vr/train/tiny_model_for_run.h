// Runs whose config names a tiny model family (model.make_tiny_family, e.g. configs/tiny_synthetic.yaml) get
// that model created at model.path on first use, so the first command on a fresh machine needs no download.
#pragma once
#include <optional>
#include <string>

namespace vr::train {

struct RunConfig;

// Creates the tiny model when model.make_tiny_family is set and model.path has no config.json yet; returns
// the line to print ("created tiny llava model in runs/tiny_llava"), or nullopt when nothing was done.
std::optional<std::string> make_tiny_model_if_missing(const RunConfig& cfg);

}  // namespace vr::train
