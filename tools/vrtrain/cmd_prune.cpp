// `vrtrain prune`: remove decoder layers from a checkpoint — listed ones, or N chosen by the visual region and block
// influence (the paper), by block influence alone (ShortGPT), the last N, or N at random — and write a checkpoint
// that vrtrain and Hugging Face transformers load. The library parts: vr/prune/layer_choice.h (which layers),
// vr/prune/prune_checkpoint.h (the files).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/config.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/prune/layer_choice.h"
#include "vr/prune/prune_checkpoint.h"
#include "vr/selection/selection.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_config.h"
#include "vr/train/run_context.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace vr::cli {
namespace cmd_prune {  // not anonymous: unity builds put several commands in one translation unit

namespace fs = std::filesystem;

const char* kFooter = R"(Methods for --remove N:
  region   keep the visual region; remove the N layers OUTSIDE it with the lowest block influence (the paper)
  bi       remove the N layers with the lowest block influence over all layers (ShortGPT)
  last     remove the last N layers
  random   remove N layers drawn with --seed
Block influence: --scores FILE (the selection_block_influence.json of `vrtrain score`), or computed here on
calibration data named as for `vrtrain score` (--config FILE / --set data.*=..., selection.calibration_samples).
The visual region (--region):
  a run directory (its config.yaml's selection.* decide the region, as in training), a selection file
  (selection_<strategy>.json of `vrtrain score`, or a run config .yaml), or a layer list such as 0,4,8.
  Without --region: the selection strategy of --config/--set (default: uniform 25 %), as training picks it.
Importance-based regions and scores computed here run on the model being pruned.

Output: OUT is a complete checkpoint (llava-hf for vision-language models, HF Llama for a Llama), written
atomically: decoder layers renumbered by position, num_hidden_layers updated, every other file of the source
copied byte for byte, and OUT/pruning.json with the removed and kept layers, the scores and the parameter counts.

Examples:
  vrtrain prune --model ckpt --output ckpt-pruned --remove-layers 1,3
  vrtrain prune --model runs/tiny/final --output runs/tiny/pruned --remove 2 --method region --region runs/tiny \
      --scores runs/score/selection_block_influence.json
  vrtrain prune --model runs/tiny/final --output pruned-bi --remove 2 --method bi --config configs/tiny_synthetic.yaml
)";

struct PruneArgs {
  std::string model, output, remove_layers, method, region, scores;
  std::optional<int64_t> remove;
  uint64_t seed = 0;
  bool dry_run = false;
  ConfigFlags config;
};

// A run config for scoring/selection on `model`: --config/--set, then model.path = the model being pruned.
vr::train::RunConfig config_for(const PruneArgs& a, const std::vector<std::string>& extra) {
  std::vector<std::string> sets = extra;
  sets.push_back("model.path=" + a.model);
  return load_run_config(a.config, sets);
}

vr::selection::SelectionResult run_selection(const vr::train::RunConfig& cfg, int64_t L, const std::string& model) {
  auto selector = vr::selection::make_selector(cfg.selection.strategy);
  if (selector->needs_model() && cfg.selection.scores_file.empty()) {
    VR_CHECK(vr::model::detect_layout(model) != vr::model::LvlmLayout::kLlamaOnly,
             "selection strategy '{}' runs a vision-language model on calibration data, but {} is a bare Llama: "
             "give the scores of `vrtrain score` (--scores FILE) and the region as a layer list or selection file",
             cfg.selection.strategy, model);
    const vr::train::RunContext ctx = vr::train::make_run_context(cfg);
    auto lvlm = std::make_shared<vr::model::Lvlm>(vr::model::load_lvlm(model));
    auto r = vr::train::select_run_layers(cfg, ctx, lvlm);
    VR_CHECK(r.num_layers == L, "selection on {} gave {} layers, config.json says {}", model, r.num_layers, L);
    return r;
  }
  vr::selection::SelectionContext ctx;
  ctx.num_layers = L;
  return vr::selection::select_layers(cfg.selection, ctx);
}

// Block influence (or other importance) scores, higher = more important.
vr::selection::SelectionResult load_scores(const PruneArgs& a, int64_t L) {
  if (!a.scores.empty()) {
    auto r = vr::selection::SelectionResult::from_json(vr::read_json_file(a.scores), a.scores);
    VR_CHECK(!r.scores.empty(), "{}: holds no per-layer scores (strategy '{}' is a heuristic)", a.scores, r.strategy);
    VR_CHECK(r.num_layers == L && static_cast<int64_t>(r.scores.size()) == L,
             "{}: scores for {} layers, but {} has {} decoder layers", a.scores, r.scores.size(), a.model, L);
    return r;
  }
  std::printf("computing block influence on calibration data (no --scores given)...\n");
  return run_selection(config_for(a, {"selection.strategy=block_influence"}), L, a.model);
}

std::vector<int64_t> load_region(const PruneArgs& a, int64_t L, std::string* origin) {
  const std::string& r = a.region;
  if (r.empty()) {
    auto cfg = config_for(a, {});
    auto sel = run_selection(cfg, L, a.model);
    *origin = fmt::format("selection strategy {} of the run config ({})", sel.strategy, sel.rationale);
    return sel.layers;
  }
  if (fs::is_directory(r)) {
    const fs::path yaml = fs::path(r) / "config.yaml";
    VR_CHECK(fs::exists(yaml), "--region {}: a directory without config.yaml is not a run directory", r);
    PruneArgs run = a;
    run.config.files = {yaml.string()};
    run.config.sets.clear();
    auto sel = run_selection(config_for(run, {}), L, a.model);
    *origin = fmt::format("run {}: {} ({})", r, sel.strategy, sel.rationale);
    return sel.layers;
  }
  if (fs::is_regular_file(r)) {
    const std::string ext = fs::path(r).extension().string();
    if (ext == ".yaml" || ext == ".yml") {
      PruneArgs run = a;
      run.config.files = {r};
      run.config.sets.clear();
      auto sel = run_selection(config_for(run, {}), L, a.model);
      *origin = fmt::format("run config {}: {} ({})", r, sel.strategy, sel.rationale);
      return sel.layers;
    }
    auto sel = vr::selection::SelectionResult::from_json(vr::read_json_file(r), r);
    VR_CHECK(sel.num_layers == L, "--region {}: a selection for {} layers, but {} has {}", r, sel.num_layers, a.model, L);
    *origin = fmt::format("selection file {} ({})", r, sel.strategy);
    return sel.layers;
  }
  *origin = "--region";
  return vr::prune::parse_layer_list(r, "--region");
}

void print_choice(const vr::prune::LayerChoice& c) {
  std::printf("%5s  %12s  %-6s  %s\n", "layer", c.scores.empty() ? "" : "score", c.region.empty() ? "" : "region",
              "removed");
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool removed = std::binary_search(c.removed.begin(), c.removed.end(), l);
    const bool in_region = std::find(c.region.begin(), c.region.end(), l) != c.region.end();
    const std::string score = c.scores.empty() ? "" : fmt::format("{:12.6g}", c.scores[l]);
    std::printf("%5lld  %12s  %-6s  %s\n", static_cast<long long>(l), score.c_str(), in_region ? "*" : "",
                removed ? "x" : "");
  }
  std::printf("%s: remove [%s], keep [%s]\n", c.method.c_str(), fmt::format("{}", fmt::join(c.removed, ",")).c_str(),
              fmt::format("{}", fmt::join(c.kept, ",")).c_str());
  std::printf("why: %s\n", c.rationale.c_str());
}

int run_prune(const std::vector<std::string>& args) {
  CLI::App app = make_app("prune", "Remove decoder layers from a checkpoint; write one that vrtrain and transformers "
                                   "load.", kFooter);
  PruneArgs a;
  app.add_option("--model", a.model, "source checkpoint (llava-hf, original LLaVA/Bunny, or HF Llama)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--output", a.output, "directory to write (replaced atomically)")->required();
  auto* listed = app.add_option("--remove-layers", a.remove_layers, "layers to remove, e.g. 1,3");
  auto* count = app.add_option("--remove", a.remove, "number of layers to remove (with --method)");
  app.add_option("--method", a.method, "region | bi | last | random (with --remove)")
      ->check(CLI::IsMember({"region", "bi", "last", "random"}));
  app.add_option("--region", a.region, "visual region: run directory, selection file, or layer list");
  app.add_option("--scores", a.scores, "per-layer scores JSON of `vrtrain score` (block_influence)")
      ->check(CLI::ExistingFile);
  app.add_option("--seed", a.seed, "seed of --method random (default 0)");
  app.add_flag("--dry-run", a.dry_run, "print the choice, write nothing");
  add_config_flags(app, a.config);
  listed->excludes(count);
  if (auto code = parse(app, args)) return *code;

  const int64_t L = vr::prune::checkpoint_num_layers(a.model);
  vr::prune::LayerChoice choice;
  std::string region_origin;
  if (!a.remove_layers.empty()) {
    VR_CHECK(a.method.empty() && a.region.empty() && a.scores.empty(),
             "--remove-layers names the layers itself: --method, --region and --scores apply to --remove N");
    choice = vr::prune::choose_explicit(vr::prune::parse_layer_list(a.remove_layers, "--remove-layers"), L);
  } else {
    VR_CHECK(a.remove.has_value(), "give --remove-layers LIST, or --remove N with --method (see `vrtrain prune --help`)");
    VR_CHECK(!a.method.empty(), "--remove {} needs --method region|bi|last|random", *a.remove);
    const auto method = vr::prune::parse_method(a.method);
    vr::prune::ChoiceInputs in;
    in.num_layers = L;
    in.remove = *a.remove;
    in.seed = a.seed;
    VR_CHECK(*a.remove >= 1 && *a.remove < L, "--remove {}: the model has {} decoder layers; remove between 1 and {}",
             *a.remove, L, L - 1);
    if (method == vr::prune::Method::kRegion) {
      in.region = load_region(a, L, &region_origin);
      std::printf("visual region [%s] from %s\n", fmt::format("{}", fmt::join(in.region, ",")).c_str(),
                  region_origin.c_str());
    } else {
      VR_CHECK(a.region.empty(), "--region is used by --method region only");
    }
    if (vr::prune::method_needs_scores(method)) {
      auto s = load_scores(a, L);
      in.scores = s.scores;
      in.scores_strategy = s.strategy;
    } else {
      VR_CHECK(a.scores.empty(), "--scores is used by --method region and bi only");
    }
    choice = vr::prune::choose_layers(method, in);
  }
  print_choice(choice);
  if (a.dry_run) return 0;

  nlohmann::json extra{{"command", "vrtrain prune " + fmt::format("{}", fmt::join(args, " "))}};
  if (!region_origin.empty()) extra["region_from"] = region_origin;
  if (!a.scores.empty()) extra["scores_file"] = a.scores;
  auto report = vr::prune::write_pruned_checkpoint(a.model, a.output, choice, extra);
  const double frac = report.parameters_before > 0
                          ? 100.0 * static_cast<double>(report.parameters_before - report.parameters_after) /
                                static_cast<double>(report.parameters_before)
                          : 0.0;
  std::printf("parameters: %lld -> %lld (-%.2f%%)\n", static_cast<long long>(report.parameters_before),
              static_cast<long long>(report.parameters_after), frac);
  if (!report.skipped.empty())
    std::printf("not copied (not plain files): %s\n", fmt::format("{}", fmt::join(report.skipped, ", ")).c_str());
  std::printf("wrote %s (%s layout, %lld of %lld layers) and %s/pruning.json\n", a.output.c_str(),
              report.pruning_json.value("output_layout", std::string()).c_str(),
              static_cast<long long>(choice.kept.size()), static_cast<long long>(L), a.output.c_str());
  return 0;
}

Registration registration_prune{"prune", "remove decoder layers (listed, or by visual region / block influence / last / random)",
                 &run_prune};

}  // namespace cmd_prune
}  // namespace vr::cli
