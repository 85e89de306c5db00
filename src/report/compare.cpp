#include "vr/report/compare.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/report/report_plots.h"

namespace fs = std::filesystem;

namespace vr::report {

namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double ratio(double a, double b) { return std::isfinite(a) && std::isfinite(b) && b != 0 ? a / b : kNotRecorded; }

std::string fmt_or_dash(double v, const char* spec) {
  return std::isfinite(v) ? fmt::format(fmt::runtime(spec), v) : "–";
}

std::string layers_text(const RunRecord& r) {
  if (r.layers.empty()) return r.stage == "pretrain" ? "none" : "–";
  if (r.num_layers > 0 && static_cast<int64_t>(r.layers.size()) == r.num_layers) return "all";
  std::string s;
  for (size_t i = 0; i < r.layers.size(); ++i) s += (i ? "," : "") + std::to_string(r.layers[i]);
  return s;
}

std::string bytes_text(int64_t b) {
  if (b < 0) return "–";
  return fmt::format("{:.0f} MiB", static_cast<double>(b) / (1024.0 * 1024.0));
}

const EvalSummary* find_eval(const RunRecord& r, const std::string& key) {
  for (const auto& e : r.evals)
    if (eval_key(e) == key) return &e;
  return nullptr;
}

}  // namespace

CompareReport build_comparison(std::vector<RunRecord> runs, const std::string& baseline) {
  VR_CHECK(!runs.empty(), "compare: no run given");
  CompareReport rep;
  rep.runs = std::move(runs);
  // Baseline: the named run, else the first "full" run, else the first.
  bool found = false;
  for (size_t i = 0; i < rep.runs.size() && !found; ++i) {
    const RunRecord& r = rep.runs[i];
    const bool match = baseline.empty() ? r.strategy == "full"
                                        : (r.name == baseline || r.dir == baseline ||
                                           fs::path(r.dir).lexically_normal() == fs::path(baseline).lexically_normal());
    if (match) rep.baseline = i, found = true;
  }
  VR_CHECK(found || baseline.empty(), "compare: --baseline '{}' is none of the runs given", baseline);
  const RunRecord& base = rep.runs[rep.baseline];

  std::set<std::string> keys;
  for (const auto& r : rep.runs)
    for (const auto& e : r.evals) keys.insert(eval_key(e));

  nlohmann::json rows = nlohmann::json::array();
  std::string md_head = "| run | strategy | layers | trainable | stage/method | steps | samples | step time | tokens/s "
                        "| peak RSS | final loss | best loss |";
  std::string md_rule = "|---|---|---|---|---|---|---|---|---|---|---|---|";
  // CUDA runs add their GPU columns; a comparison of CPU runs looks as it always did.
  const bool gpu = std::any_of(rep.runs.begin(), rep.runs.end(),
                               [](const RunRecord& r) { return r.figures.gpu_peak_allocated_bytes_max.has_value(); });
  if (gpu) {
    md_head += " GPU peak | MFU |";
    md_rule += "---|---|";
  }
  for (const auto& k : keys) {
    md_head += " " + k + " |";
    md_rule += "---|";
  }
  std::string md_rows;
  for (size_t i = 0; i < rep.runs.size(); ++i) {
    const RunRecord& r = rep.runs[i];
    nlohmann::json row = {{"name", r.name},
                          {"dir", r.dir},
                          {"strategy", r.strategy},
                          {"stage", r.stage},
                          {"method", r.method},
                          {"layers", r.layers},
                          {"num_layers", r.num_layers},
                          {"trainable_params", r.trainable_params},
                          {"total_params", r.total_params},
                          {"trainable_share", num(r.trainable_share())},
                          {"steps", r.steps},
                          {"samples", r.samples},
                          {"seed", r.seed},
                          {"step_time_s", num(r.step_time_s)},
                          {"tokens_per_s", num(r.tokens_per_s)},
                          {"peak_rss_bytes", r.peak_rss_bytes},
                          {"first_loss", num(r.first_loss)},
                          {"final_loss", num(r.final_loss)},
                          {"best_loss", num(r.best_loss)},
                          {"finished", r.finished},
                          {"step_time_vs_baseline", num(ratio(r.step_time_s, base.step_time_s))},
                          {"peak_rss_vs_baseline",
                           num(ratio(static_cast<double>(r.peak_rss_bytes), static_cast<double>(base.peak_rss_bytes)))},
                          {"evals", nlohmann::json::object()}};
    r.figures.add_to_json(row);
    std::string md = fmt::format(
        "| {}{} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |", r.name, i == rep.baseline ? " (baseline)" : "",
        r.strategy.empty() ? "–" : r.strategy, layers_text(r),
        r.trainable_params < 0 ? "–"
                               : fmt::format("{:.3g}M ({:.1f}%)", static_cast<double>(r.trainable_params) / 1e6,
                                             100 * r.trainable_share()),
        r.stage.empty() ? "–" : r.stage, r.method.empty() ? "–" : r.method, r.steps,
        r.samples < 0 ? "–" : std::to_string(r.samples), fmt_or_dash(r.step_time_s * 1000, "{:.0f} ms"),
        fmt_or_dash(r.tokens_per_s, "{:.0f}"), bytes_text(r.peak_rss_bytes), fmt_or_dash(r.final_loss, "{:.4f}"),
        fmt_or_dash(r.best_loss, "{:.4f}"));
    if (gpu)
      md += fmt::format(" {} | {} |", bytes_text(r.figures.gpu_peak_allocated_bytes_max.value_or(-1)),
                        r.figures.mfu_median ? fmt::format("{:.1f}%", 100 * *r.figures.mfu_median) : "–");
    for (const auto& k : keys) {
      const EvalSummary* e = find_eval(r, k);
      const EvalSummary* be = find_eval(base, k);
      if (!e) {
        md += " – |";
        continue;
      }
      bool higher = true;
      const double v = headline_metric(*e, &higher);
      const double bv = be ? headline_metric(*be) : kNotRecorded;
      const double rel = ratio(v, bv);
      row["evals"][k] = {{"metric", higher ? "accuracy" : "loss"}, {"value", num(v)},
                         {"vs_baseline", num(rel)},                {"n", e->n},
                         {"metrics", e->metrics},                  {"model", e->model}};
      const std::string value = higher ? fmt_or_dash(100 * v, "{:.1f}%") : fmt_or_dash(v, "{:.4f}");
      md += (std::isfinite(rel) && i != rep.baseline)
                ? fmt::format(" {} ({:.1f}% of {}) |", value, 100 * rel, base.name)
                : " " + value + " |";
    }
    rows.push_back(row);
    md_rows += md + "\n";
  }
  rep.json = {{"baseline", base.name}, {"eval_keys", keys}, {"runs", rows}};
  rep.markdown = fmt::format(
      "# Run comparison\n\nBaseline: `{}`. Step time: median over steps (first step excluded); peak RSS: the training "
      "process's peak resident memory;{} evaluation columns: accuracy (else loss) and its share of the baseline's.\n\n"
      "{}\n{}\n{}",
      base.name,
      gpu ? " GPU peak: the largest per-step peak of the CUDA caching allocator (live tensors, rank 0); MFU: the "
            "median over steps (first step excluded) of model FLOPs / step time / train.peak_tflops (docs/benchmarks.md);"
          : "",
      md_head, md_rule, md_rows);
  return rep;
}

CompareReport compare_runs(const CompareOptions& opt) {
  std::vector<RunRecord> runs;
  for (const auto& d : opt.runs) runs.push_back(read_run(d));
  CompareReport rep = build_comparison(std::move(runs), opt.baseline);
  fs::create_directories(opt.output);
  const fs::path out(opt.output);
  auto put = [&](const std::string& name, const std::string& text) {
    vr::atomic_write_file((out / name).string(), text);
    rep.files.push_back((out / name).string());
  };
  put("compare.md", rep.markdown);
  put("compare.json", rep.json.dump(2) + "\n");

  std::vector<Series> curves;
  std::vector<LayerRow> layer_rows;
  for (const auto& r : rep.runs) {
    curves.push_back({r.name, r.loss_steps, r.losses});
    layer_rows.push_back({r.name, r.num_layers, r.layers, r.scores});
  }
  auto plot = [&](const Plot& p, const std::string& stem) {
    for (const auto& f : write_svg_and_png(p.width, p.height, p.draw, (out / stem).string())) rep.files.push_back(f);
  };
  plot(loss_curves("Training loss", curves), "loss_curves");
  plot(score_bars("Per-layer selection scores (selected layers in red)", layer_rows), "layer_scores");
  plot(selection_strip("Trained LLM layers per run", layer_rows), "layer_selection");
  return rep;
}

}  // namespace vr::report
