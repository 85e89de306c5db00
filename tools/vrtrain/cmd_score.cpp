// `vrtrain score`: run a layer-selection strategy, print the per-layer scores as a table, and save them
// (JSON for reuse by training, SVG bar chart for people) into the run directory.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/checkpoint.h"
#include "vr/core/config.h"
#include "vr/core/error.h"
#include "vr/eval/bar_chart.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_context.h"
#include "vr/train/run_config.h"
#include "vrtrain/command.h"

namespace vr::cli {
namespace {

// The run config (vr::train::RunConfig): `vrtrain score` reads the same file as training, so a scored run and
// a trained run agree on the model, the output directory and the selection.* keys.
using ScoreConfig = vr::train::RunConfig;

const char* kHelp = R"(vrtrain score: compute per-layer importance scores with a layer-selection strategy,
print them, and save them for training and for a chart.

Usage:
  vrtrain score [--config FILE] [--strategy NAME] [--set key=value ...] [--output-dir DIR] [--num-layers N]

Options:
  --config FILE     run config (YAML, the one training uses); model.path, output_dir, selection.* are used
  --strategy NAME   selection strategy (same as --set selection.strategy=NAME)
  --set key=value   override any config key, repeatable (e.g. --set selection.count=8)
  --output-dir DIR  where to write the results (same as --set output_dir=DIR)
  --num-layers N    number of decoder layers when there is no model.path (heuristic strategies)
  --help            this text

Writes into the output directory:
  selection_<strategy>.json  strategy, number of layers, selected layers (sorted), per-layer scores, rationale
  selection_<strategy>.svg   bar chart of the per-layer scores, selected layers in red
Training with an importance strategy reuses the saved scores instead of recomputing them:
  --set selection.scores_file=<output_dir>/selection_<strategy>.json

Strategies:
{strategies}
Examples:
  # the paper's layers for a 32-layer LLM
  vrtrain score --num-layers 32 --strategy uniform
  # layers whose weights moved most between the base LLM and a fully tuned LVLM
  vrtrain score --strategy param_change --set selection.base_model=vicuna-7b-v1.5 \
      --set selection.tuned_model=llava-v1.5-7b --set selection.metric=angular --output-dir runs/pc

Selection keys (settable in the config file or with --set):
{keys})";

std::string help_text() {
  std::string strategies;
  for (const auto& n : vr::selection::strategy_names())
    if (n.rfind("test_", 0) != 0) strategies += fmt::format("  {:<16} {}\n", n, vr::selection::strategy_summary(n));
  vr::selection::SelectionConfig cfg;
  return fmt::format(fmt::runtime(kHelp), fmt::arg("strategies", strategies), fmt::arg("keys", vr::describe_fields(cfg)));
}

// Decoder layers of the LLM in an HF config.json: text_config.num_hidden_layers (LLaVA) or num_hidden_layers.
int64_t layers_from_config(const std::string& model_path) {
  nlohmann::json j = vr::load_config_json(model_path);
  const nlohmann::json& text = j.contains("text_config") ? j["text_config"] : j;
  VR_CHECK(text.contains("num_hidden_layers") && text["num_hidden_layers"].is_number_integer(),
           "{}/config.json: no num_hidden_layers for the language model", model_path);
  return text["num_hidden_layers"].get<int64_t>();
}

std::string bar(double v, double max_abs, int width) {
  if (!std::isfinite(v) || max_abs <= 0) return "";
  int n = static_cast<int>(std::lround(std::abs(v) / max_abs * width));
  return std::string(static_cast<size_t>(n), '#');
}

void print_table(const vr::selection::SelectionResult& r) {
  std::vector<bool> selected(static_cast<size_t>(r.num_layers), false);
  for (int64_t l : r.layers) selected[static_cast<size_t>(l)] = true;
  double max_abs = 0;
  for (double v : r.scores)
    if (std::isfinite(v)) max_abs = std::max(max_abs, std::abs(v));
  std::printf("%5s  %12s  %-40s  %s\n", "layer", r.scores.empty() ? "" : "score", r.scores.empty() ? "" : "bar",
              "selected");
  for (int64_t l = 0; l < r.num_layers; ++l) {
    std::string score = r.scores.empty() ? "" : fmt::format("{:12.6g}", r.scores[l]);
    std::string b = r.scores.empty() ? "" : bar(r.scores[l], max_abs, 40);
    std::printf("%5lld  %12s  %-40s  %s\n", static_cast<long long>(l), score.c_str(), b.c_str(),
                selected[l] ? "*" : "");
  }
}

int run_score(const std::vector<std::string>& args) {
  std::string config_file, strategy, output_dir;
  std::vector<std::string> overrides;
  int64_t num_layers = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help_text().c_str(), stdout);
      return 0;
    }
    auto value = [&]() -> std::string {
      VR_CHECK(i + 1 < args.size(), "{} needs a value (see `vrtrain score --help`)", a);
      return args[++i];
    };
    if (a == "--config") config_file = value();
    else if (a == "--strategy") strategy = value();
    else if (a == "--set") overrides.push_back(value());
    else if (a == "--output-dir") output_dir = value();
    else if (a == "--num-layers") {
      std::string v = value();
      try {
        num_layers = std::stoll(v);
      } catch (const std::exception&) {
        VR_FAIL("--num-layers: expected an integer, got '{}'", v);
      }
    } else {
      std::fprintf(stderr, "vrtrain score: unknown option '%s' (see `vrtrain score --help`)\n", a.c_str());
      return 2;
    }
  }

  ScoreConfig cfg;
  if (!config_file.empty()) vr::load_yaml_config(cfg, config_file);
  if (!strategy.empty()) overrides.push_back("selection.strategy=" + strategy);
  if (!output_dir.empty()) overrides.push_back("output_dir=" + output_dir);
  vr::apply_overrides(cfg, overrides);
  const vr::selection::SelectionConfig& sel = cfg.selection;
  // Unknown names fail here, before any loading.
  const bool needs_model = vr::selection::make_selector(sel.strategy)->needs_model() && sel.scores_file.empty();

  vr::selection::SelectionContext ctx;
  if (num_layers > 0) {
    ctx.num_layers = num_layers;
  } else if (!cfg.model.path.empty()) {
    ctx.num_layers = layers_from_config(cfg.model.path);
  } else if (sel.strategy == "param_change" && !sel.base_model.empty()) {
    StateDict base = vr::load_state_dict(sel.base_model);
    ctx.num_layers = vr::selection::count_decoder_layers(base, vr::selection::decoder_layer_prefix(base, sel.base_model));
  } else if (!sel.scores_file.empty()) {
    ctx.num_layers = static_cast<int64_t>(vr::selection::load_saved_scores(sel.scores_file, sel.strategy, 0).size());
  }
  VR_CHECK(ctx.num_layers > 0,
           "the number of decoder layers is unknown: give --num-layers N or a model (model.path in --config, or "
           "--set model.path=DIR)");

  vr::selection::SelectionResult r;
  if (needs_model) {
    // attention / block_influence: the model of model.path runs on selection.calibration_samples samples of
    // the run's data (data.*), exactly as training would compute them.
    VR_CHECK(!cfg.model.path.empty(), "selection.strategy '{}' runs the model on calibration data: give a run "
             "config with model.path and data.* (--config FILE or --set model.path=DIR)", sel.strategy);
    const vr::train::RunContext run_ctx = vr::train::make_run_context(cfg);
    auto model = std::make_shared<vr::model::Lvlm>(vr::model::load_lvlm(cfg.model.path));
    r = vr::train::select_run_layers(cfg, run_ctx, model);
  } else {
    r = vr::selection::select_layers(sel, ctx);
  }

  std::printf("strategy %s: %s\n", r.strategy.c_str(), r.rationale.c_str());
  print_table(r);
  std::printf("selected layers: %s\n", fmt::format("{}", fmt::join(r.layers, ",")).c_str());

  std::filesystem::create_directories(cfg.output_dir);
  const std::string stem = fmt::format("{}/selection_{}", cfg.output_dir, r.strategy);
  nlohmann::json j = r.to_json();
  if (r.strategy == "param_change") j["metric"] = sel.metric;
  vr::atomic_write_file(stem + ".json", j.dump(2) + "\n");

  vr::eval::BarChart chart;
  chart.title = fmt::format("{}: {} of {} layers selected", r.strategy, r.layers.size(), r.num_layers);
  chart.y_label = r.scores.empty() ? "selected" : (r.strategy == "param_change" ? sel.metric : "score");
  for (int64_t l = 0; l < r.num_layers; ++l) chart.labels.push_back(std::to_string(l));
  chart.highlighted.assign(static_cast<size_t>(r.num_layers), false);
  for (int64_t l : r.layers) chart.highlighted[static_cast<size_t>(l)] = true;
  if (r.scores.empty())
    for (bool s : chart.highlighted) chart.values.push_back(s ? 1.0 : 0.0);
  else
    chart.values = r.scores;
  vr::eval::write_svg(chart, stem + ".svg");

  std::printf("wrote %s.json and %s.svg\n", stem.c_str(), stem.c_str());
  if (!r.scores.empty())
    std::printf("reuse in training: --set selection.strategy=%s --set selection.scores_file=%s.json\n",
                r.strategy.c_str(), stem.c_str());
  return 0;
}

Registration reg{"score", "compute per-layer selection scores, print them, save JSON and an SVG chart", &run_score};

}  // namespace
}  // namespace vr::cli
