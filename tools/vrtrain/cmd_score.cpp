// `vrtrain score`: run a layer-selection strategy, print the per-layer scores as a table, and save them
// (JSON for reuse by training, SVG bar chart for people) into the run directory.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/tensor_files.h"
#include "vr/core/config.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/report/bar_chart.h"
#include "vr/selection/scores.h"
#include "vr/selection/selection.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_context.h"
#include "vr/train/run_config.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace vr::cli {
namespace cmd_score {  // not anonymous: unity builds put several commands in one translation unit

// The run config (vr::train::RunConfig): `vrtrain score` reads the same file as training, so a scored run and
// a trained run agree on the model, the output directory and the selection.* keys.
using ScoreConfig = vr::train::RunConfig;

const char* kDescription = "vrtrain score: compute per-layer importance scores with a layer-selection strategy,\n"
                           "print them, and save them for training and for a chart.";

const char* kFooter = R"(Writes into the output directory:
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
  # model-based strategies run model.path on selection.calibration_samples samples of the run's data
  vrtrain score --config run.yaml --strategy angular --set selection.angular_block=2
  vrtrain score --config run.yaml --strategy layer_contribution     # L + 1 forward passes per sample
  vrtrain score --config run.yaml --strategy triplet                # also saves s1, s2, s3 and drop/tune/anchor
Scores are "higher = more important" for every strategy: block_influence and angular (distance) as computed,
layer_contribution (KL) as computed, triplet as 1 - s3 (similarity across the triplet starting at the layer).

Selection keys (settable in the config file or with --set):
{keys})";

std::string footer_text() {
  std::string strategies;
  for (const auto& n : vr::selection::strategy_names())
    if (n.rfind("test_", 0) != 0) strategies += fmt::format("  {:<16} {}\n", n, vr::selection::strategy_summary(n));
  vr::selection::SelectionConfig cfg;
  return fmt::format(fmt::runtime(kFooter), fmt::arg("strategies", strategies), fmt::arg("keys", vr::describe_fields(cfg)));
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
    // A layer without a score (triplet's last layers) shows "-", as null in the JSON.
    std::string score = r.scores.empty() ? "" : std::isnan(r.scores[l]) ? "-" : fmt::format("{:12.6g}", r.scores[l]);
    std::string b = r.scores.empty() ? "" : bar(r.scores[l], max_abs, 40);
    std::printf("%5lld  %12s  %-40s  %s\n", static_cast<long long>(l), score.c_str(), b.c_str(),
                selected[l] ? "*" : "");
  }
}

// What the chart's bars measure (higher = more important for every strategy).
std::string score_label(const std::string& strategy) {
  if (strategy == "angular") return "angular distance / pi";
  if (strategy == "layer_contribution") return "KL (nats)";
  if (strategy == "triplet") return "1 - s3";
  if (strategy == "block_influence") return "1 - cos";
  return "score";
}

int run_score(const std::vector<std::string>& args) {
  std::string strategy, output_dir;
  int64_t num_layers = 0;
  ConfigFlags config;
  CLI::App app = make_app("score", kDescription, footer_text());
  set_usage(app, "vrtrain score [--config FILE] [--strategy NAME] [--set key=value ...] [--output-dir DIR] [--num-layers N]");
  add_config_flags(app, config);
  app.get_option("--config")
      ->description("run config (YAML, the one training uses); model.path, output_dir, selection.* are used\n"
                    "(repeatable: later files override earlier ones)");
  app.add_option("--strategy", strategy, "selection strategy (same as --set selection.strategy=NAME)")->type_name("NAME");
  app.get_option("--set")->description("override any config key, repeatable (e.g. --set selection.count=8)");
  app.add_option("--output-dir", output_dir, "where to write the results (same as --set output_dir=DIR)")->type_name("DIR");
  add_int_option(app, "--num-layers", num_layers, "number of decoder layers when there is no model.path (heuristic strategies)");
  if (auto code = parse(app, args)) return *code;

  std::vector<std::string> extra;
  if (!strategy.empty()) extra.push_back("selection.strategy=" + strategy);
  if (!output_dir.empty()) extra.push_back("output_dir=" + output_dir);
  // Read as training reads it, without training's checks (no model is needed for heuristic strategies).
  ScoreConfig cfg;
  for (const auto& f : config.files) vr::train::load_run_config_file(cfg, f);
  extra.insert(extra.begin(), config.sets.begin(), config.sets.end());
  vr::train::apply_run_overrides(cfg, extra);
  const vr::selection::SelectionConfig& sel = cfg.selection;
  // Unknown names fail here, before any loading.
  const bool needs_model = vr::selection::make_selector(sel.strategy)->needs_model() && sel.scores_file.empty();

  vr::selection::SelectionContext ctx;
  if (num_layers > 0) {
    ctx.num_layers = num_layers;
  } else if (!cfg.model.path.empty()) {
    ctx.num_layers = layers_from_config(cfg.model.path);
  } else if (sel.strategy == "param_change" && !sel.base_model.empty()) {
    StateDict base = vr::load_tensors(sel.base_model);
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
    // The model as training prepares it, so a study or a user that scores first gets the layers the run would pick.
    const vr::train::RunContext run_ctx = vr::train::make_run_context(cfg);
    r = vr::train::select_run_layers(cfg, run_ctx, vr::train::load_run_model(cfg, run_ctx));
  } else {
    r = vr::selection::select_layers(sel, ctx);
  }

  std::printf("strategy %s: %s\n", r.strategy.c_str(), r.rationale.c_str());
  print_table(r);
  std::printf("selected layers: %s\n", fmt::format("{}", fmt::join(r.layers, ",")).c_str());
  for (const auto& [name, list] : r.layer_sets)
    std::printf("%s layers: %s\n", name.c_str(), fmt::format("{}", fmt::join(list, ",")).c_str());

  std::filesystem::create_directories(cfg.output_dir);
  const std::string stem = fmt::format("{}/selection_{}", cfg.output_dir, r.strategy);
  nlohmann::json j = r.to_json();
  if (r.strategy == "param_change") j["metric"] = sel.metric;
  if (r.strategy == "angular") j["angular_block"] = sel.angular_block;  // scores of other block sizes do not compare
  vr::atomic_write_file(stem + ".json", j.dump(2) + "\n");

  vr::report::BarChart chart;
  chart.title = fmt::format("{}: {} of {} layers selected", r.strategy, r.layers.size(), r.num_layers);
  chart.y_label = r.scores.empty() ? "selected" : (r.strategy == "param_change" ? sel.metric : score_label(r.strategy));
  for (int64_t l = 0; l < r.num_layers; ++l) chart.labels.push_back(std::to_string(l));
  chart.highlighted.assign(static_cast<size_t>(r.num_layers), false);
  for (int64_t l : r.layers) chart.highlighted[static_cast<size_t>(l)] = true;
  if (r.scores.empty())
    for (bool s : chart.highlighted) chart.values.push_back(s ? 1.0 : 0.0);
  else
    chart.values = r.scores;
  vr::report::write_svg(chart, stem + ".svg");

  std::printf("wrote %s.json and %s.svg\n", stem.c_str(), stem.c_str());
  if (!r.scores.empty())
    std::printf("reuse in training: --set selection.strategy=%s --set selection.scores_file=%s.json\n",
                r.strategy.c_str(), stem.c_str());
  return 0;
}

Registration registration_score{"score", "compute per-layer selection scores, print them, save JSON and an SVG chart", &run_score};

}  // namespace cmd_score
}  // namespace vr::cli
