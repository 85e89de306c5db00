// `vrtrain prune`: remove decoder layers from a checkpoint — listed ones, or N chosen by the visual region and block
// influence (the paper), by block influence alone (ShortGPT), by angular distance (Gromov et al.), by INTERLACE
// triplets, the last N, or N at random; optionally heal (a short fine-tune) — and write a checkpoint
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
#include "vr/train/heal.h"
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
  angular  Gromov et al.: remove the block of N consecutive layers outside the visual region whose input and
           output are closest in angle, d(h_l, h_l+N) = arccos(cos)/pi (--region none: anywhere);
           --angular-layers: the N single layers outside the region with the lowest d(h_l, h_l+1) instead
  triplet  INTERLACE: in the N most similar layer triplets, drop the more redundant of the first two layers
           (pruning.json lists the layers to fine-tune and the frozen anchors)
  heal     prune by --heal-method (any method above; or --remove-layers LIST), then train lm_head and the last
           --heal-layers layers for --heal-steps steps on the data of --config/--set (train.* apply:
           lr, batch_size, seed, device ...); OUT is the healed checkpoint, the run stays in --heal-dir
Angular distances, triplet similarities: --scores FILE (selection_angular.json / selection_triplet.json of
`vrtrain score`; angular needs selection.angular_block = N for a block, 1 for --angular-layers), or computed here.
Block influence: --scores FILE (the selection_block_influence.json of `vrtrain score`), or computed here on
calibration data named as for `vrtrain score` (--config FILE / --set data.*=..., selection.calibration_samples).
The visual region (--region):
  a run directory (its config.yaml's selection.* decide the region, as in training), a selection file
  (selection_<strategy>.json of `vrtrain score`, or a run config .yaml), or a layer list such as 0,4,8.
  Without --region: the selection strategy of --config/--set (default: uniform 25 %), as training picks it.
Importance-based regions and scores computed here run on the model being pruned.

Output: OUT is a complete checkpoint (llava-hf for vision-language models, HF Llama for a Llama), written
atomically: decoder layers renumbered by position, num_hidden_layers updated, every other file of the source
copied byte for byte, and OUT/pruning.json with the removed and kept layers (original indices, base 0), where
each kept layer went (kept_new_index: {"<original>": <new>}), the scores and the parameter counts.

Examples:
  vrtrain prune --model ckpt --output ckpt-pruned --remove-layers 1,3
  vrtrain prune --model runs/tiny/final --output runs/tiny/pruned --remove 2 --method region --region runs/tiny \
      --scores runs/score/selection_block_influence.json
  vrtrain prune --model runs/tiny/final --output pruned-bi --remove 2 --method bi --config configs/tiny_synthetic.yaml
  vrtrain prune --model runs/tiny/final --output pruned-ang --remove 2 --method angular --region runs/tiny \
      --config configs/tiny_synthetic.yaml
  vrtrain prune --model runs/tiny/final --output healed --remove 2 --method heal --heal-method angular \
      --region runs/tiny --config configs/tiny_synthetic.yaml --heal-steps 20 --heal-layers 3
)";

struct PruneArgs {
  std::string model, output, remove_layers, method, region, scores;
  std::optional<int64_t> remove;
  uint64_t seed = 0;
  bool dry_run = false;
  bool angular_layers = false;
  std::string heal_method = "last", heal_dir;
  int64_t heal_layers = 3, heal_steps = 20;
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
    const vr::train::RunContext ctx = vr::train::make_run_context(cfg);  // cfg's model.path is `model`
    auto r = vr::train::select_run_layers(cfg, ctx, vr::train::load_run_model(cfg, ctx));
    VR_CHECK(r.num_layers == L, "selection on {} gave {} layers, config.json says {}", model, r.num_layers, L);
    return r;
  }
  vr::selection::SelectionContext ctx;
  ctx.num_layers = L;
  return vr::selection::select_layers(cfg.selection, ctx);
}

// Per-layer scores, higher = more important: block influence for region / bi, angular distances (blocks of
// `angular_block`) for angular, the triplet similarities (series s1, s2, s3) for triplet.
vr::selection::SelectionResult load_scores(const PruneArgs& a, int64_t L, const std::string& strategy,
                                           int64_t angular_block = 1) {
  if (!a.scores.empty()) {
    const nlohmann::json j = vr::read_json_file(a.scores);
    auto r = vr::selection::SelectionResult::from_json(j, a.scores);
    VR_CHECK(!r.scores.empty(), "{}: holds no per-layer scores (strategy '{}' is a heuristic)", a.scores, r.strategy);
    VR_CHECK(r.num_layers == L && static_cast<int64_t>(r.scores.size()) == L,
             "{}: scores for {} layers, but {} has {} decoder layers", a.scores, r.scores.size(), a.model, L);
    if (strategy != "block_influence")  // region / bi accept any importance scores; angular and triplet their own
      VR_CHECK(r.strategy == strategy, "{}: '{}' scores, but this method needs '{}' (from `vrtrain score --strategy "
               "{}`)", a.scores, r.strategy, strategy, strategy);
    if (strategy == "angular") {
      const int64_t n = j.value("angular_block", int64_t{1});
      VR_CHECK(n == angular_block, "{}: angular distances of blocks of {} layers, this needs blocks of {} "
               "(vrtrain score --strategy angular --set selection.angular_block={})", a.scores, n, angular_block,
               angular_block);
    }
    return r;
  }
  std::printf("computing %s on calibration data (no --scores given)...\n", strategy.c_str());
  std::vector<std::string> sets{"selection.strategy=" + strategy, "selection.scores_file="};
  if (strategy == "angular") sets.push_back("selection.angular_block=" + std::to_string(angular_block));
  if (strategy == "triplet") sets.push_back("selection.count=1");  // one triplet always fits; only s1..s3 are used
  return run_selection(config_for(a, sets), L, a.model);
}

std::vector<int64_t> load_region(const PruneArgs& a, int64_t L, std::string* origin) {
  const std::string& r = a.region;
  if (r == "none") {
    *origin = "none (--region none)";
    return {};
  }
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

// Which layers go: listed, or N by `method` (region | bi | last | random | angular | triplet).
vr::prune::LayerChoice choose(const PruneArgs& a, const std::string& method_text, int64_t L, std::string* region_origin) {
  if (!a.remove_layers.empty()) {
    VR_CHECK((a.method.empty() || a.method == "heal") && a.region.empty() && a.scores.empty(),
             "--remove-layers names the layers itself: --method (other than heal), --region and --scores apply to "
             "--remove N");
    return vr::prune::choose_explicit(vr::prune::parse_layer_list(a.remove_layers, "--remove-layers"), L);
  }
  VR_CHECK(a.remove.has_value(), "give --remove-layers LIST, or --remove N with --method (see `vrtrain prune --help`)");
  VR_CHECK(!method_text.empty(), "--remove {} needs --method region|bi|last|random|angular|triplet|heal", *a.remove);
  const auto method = vr::prune::parse_method(method_text);
  vr::prune::ChoiceInputs in;
  in.num_layers = L;
  in.remove = *a.remove;
  in.seed = a.seed;
  VR_CHECK(*a.remove >= 1 && *a.remove < L, "--remove {}: the model has {} decoder layers; remove between 1 and {}",
           *a.remove, L, L - 1);
  VR_CHECK(!a.angular_layers || method == vr::prune::Method::kAngular, "--angular-layers goes with method angular");
  if (vr::prune::method_uses_region(method)) {
    in.region = load_region(a, L, region_origin);
    std::printf("visual region [%s] from %s\n", fmt::format("{}", fmt::join(in.region, ",")).c_str(),
                region_origin->c_str());
  } else {
    VR_CHECK(a.region.empty(), "--region is used by methods region and angular only");
  }
  if (method == vr::prune::Method::kAngular) {
    in.angular_single = a.angular_layers;
    in.scores_block = a.angular_layers ? 1 : *a.remove;
    auto s = load_scores(a, L, "angular", in.scores_block);
    in.scores = s.scores;
    in.scores_strategy = s.strategy;
  } else if (method == vr::prune::Method::kTriplet) {
    auto s = load_scores(a, L, "triplet");
    for (const char* k : {"s1", "s2", "s3"})
      VR_CHECK(s.series.count(k) && static_cast<int64_t>(s.series[k].size()) == L,
               "the triplet scores have no series '{}' of {} values", k, L);
    in.triplet = vr::selection::TripletSimilarity{s.series["s1"], s.series["s2"], s.series["s3"]};
  } else if (vr::prune::method_needs_scores(method)) {
    auto s = load_scores(a, L, "block_influence");
    in.scores = s.scores;
    in.scores_strategy = s.strategy;
  } else {
    VR_CHECK(a.scores.empty(), "--scores is used by methods region, bi, angular and triplet only");
  }
  return vr::prune::choose_layers(method, in);
}

// --method heal: the pruned checkpoint and the healing run go to --heal-dir; OUT receives the run's final/ with
// pruning.json (the choice, the source's parameters and a "heal" section).
void write_healed(const PruneArgs& a, const vr::prune::LayerChoice& choice, nlohmann::json extra) {
  const std::string work = a.heal_dir.empty() ? a.output + ".heal" : a.heal_dir;
  const std::string pruned = work + "/pruned";
  fs::create_directories(work);
  auto report = vr::prune::write_pruned_checkpoint(a.model, pruned, choice, extra);
  vr::train::HealOptions o;
  o.run = config_for(a, {});  // model.path validates here; heal points it at the pruned checkpoint
  o.tune_last_layers = a.heal_layers;
  o.steps = a.heal_steps;
  o.work_dir = work + "/run";
  std::printf("healing %s: lm_head + the last %lld layers, %lld steps (run in %s)\n", pruned.c_str(),
              static_cast<long long>(a.heal_layers), static_cast<long long>(a.heal_steps), o.work_dir.c_str());
  auto healed = vr::train::heal_pruned_checkpoint(pruned, o, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  nlohmann::json pj = report.pruning_json;
  pj["method"] = "heal";
  pj["heal"] = {{"prune_method", choice.method}, {"tuned_layers_new_index", healed.tuned_layers},
                {"tuned", "lm_head + the last " + std::to_string(healed.tuned_layers.size()) + " layers"},
                {"steps", healed.train.steps_done}, {"loss_first", healed.train.first_loss},
                {"loss_last", healed.train.last_loss}, {"run_dir", o.work_dir}, {"unhealed_checkpoint", pruned}};
  vr::write_directory_atomically(a.output, [&](const std::string& tmp) {
    for (const auto& e : fs::directory_iterator(healed.final_dir))
      fs::copy(e.path(), fs::path(tmp) / e.path().filename(), fs::copy_options::recursive);
    vr::atomic_write_file((fs::path(tmp) / "pruning.json").string(), pj.dump(2) + "\n");
  });
  std::printf("healed: loss %.4f -> %.4f over %lld steps; wrote %s and %s/pruning.json\n", healed.train.first_loss,
              healed.train.last_loss, static_cast<long long>(healed.train.steps_done), a.output.c_str(),
              a.output.c_str());
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
  app.add_option("--method", a.method, "region | bi | last | random | angular | triplet | heal (with --remove)")
      ->check(CLI::IsMember({"region", "bi", "last", "random", "angular", "triplet", "heal"}));
  app.add_option("--region", a.region, "visual region: run directory, selection file, layer list, or none (angular)");
  app.add_option("--scores", a.scores,
                 "per-layer scores JSON of `vrtrain score` (block_influence; angular; triplet)")
      ->check(CLI::ExistingFile);
  app.add_option("--seed", a.seed, "seed of --method random (default 0)");
  app.add_flag("--angular-layers", a.angular_layers,
               "method angular: remove the N single layers with the lowest distance instead of one block of N");
  app.add_option("--heal-method", a.heal_method, "method heal: how to choose the layers (default last)")
      ->check(CLI::IsMember({"region", "bi", "last", "random", "angular", "triplet"}));
  app.add_option("--heal-layers", a.heal_layers, "method heal: train lm_head and the last K layers (default 3)")
      ->type_name("K");
  app.add_option("--heal-steps", a.heal_steps, "method heal: optimizer steps of the healing run (default 20)")
      ->type_name("S");
  app.add_option("--heal-dir", a.heal_dir, "method heal: where the pruned checkpoint and the run go (OUT.heal)")
      ->type_name("DIR");
  app.add_flag("--dry-run", a.dry_run, "print the choice, write nothing");
  add_config_flags(app, a.config);
  listed->excludes(count);
  if (auto code = parse(app, args)) return *code;

  const int64_t L = vr::prune::checkpoint_num_layers(a.model);
  const bool heal = a.method == "heal";
  std::string region_origin;
  vr::prune::LayerChoice choice = choose(a, heal ? a.heal_method : a.method, L, &region_origin);
  print_choice(choice);
  if (a.dry_run) return 0;

  nlohmann::json extra{{"command", "vrtrain prune " + fmt::format("{}", fmt::join(args, " "))}};
  if (!region_origin.empty()) extra["region_from"] = region_origin;
  if (!a.scores.empty()) extra["scores_file"] = a.scores;
  if (heal) {
    write_healed(a, choice, extra);
    return 0;
  }
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

Registration registration_prune{"prune", "remove decoder layers (listed, or by visual region / block influence / angular distance / triplets / last / random; optionally heal)",
                 &run_prune};

}  // namespace cmd_prune
}  // namespace vr::cli
