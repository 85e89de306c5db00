#include "vr/report/run_record.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <yaml-cpp/yaml.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/jsonl.h"
#include "vr/train/run_summary.h"
#include "vr/train/step_median.h"

namespace fs = std::filesystem;

namespace vr::report {

namespace {

std::string yaml_string(const YAML::Node& root, const char* section, const char* key) {
  const YAML::Node s = root[section];
  if (!s || !s.IsMap() || !s[key]) return "";
  return s[key].as<std::string>();
}

void read_evals(RunRecord& r, const fs::path& folder) {
  if (!fs::is_directory(folder)) return;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string name = e.path().filename().string();
    const std::string tail = ".summary.json";
    if (name.size() <= tail.size() || name.compare(name.size() - tail.size(), tail.size(), tail) != 0) continue;
    try {
      r.evals.push_back(EvalSummary::from_json(vr::read_json_file(e.path().string())));
    } catch (const vr::Error& err) {
      throw vr::Error(e.path().string() + ": " + err.what());
    }
  }
}

}  // namespace

double RunRecord::trainable_share() const {
  return trainable_params >= 0 && total_params > 0
             ? static_cast<double>(trainable_params) / static_cast<double>(total_params)
             : kNotRecorded;
}

std::string eval_key(const EvalSummary& s) {
  if (s.data.empty()) return s.task;
  return s.task + ":" + fs::path(s.data.front().path).stem().string();
}

double headline_metric(const EvalSummary& s, bool* higher_is_better) {
  if (higher_is_better) *higher_is_better = true;
  if (s.metrics.contains("accuracy") && s.metrics["accuracy"].is_number()) return s.metrics["accuracy"].get<double>();
  if (s.metrics.contains("loss") && s.metrics["loss"].is_number()) {
    if (higher_is_better) *higher_is_better = false;
    return s.metrics["loss"].get<double>();
  }
  return kNotRecorded;
}

RunRecord read_run(const std::string& dir) {
  RunRecord r;
  r.dir = dir;
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  r.name = p.filename().string();
  const fs::path summary = p / "run_summary.json", metrics = p / "metrics.jsonl", config = p / "config.yaml";
  VR_CHECK(fs::is_directory(p), "compare: '{}' is not a directory", dir);
  VR_CHECK(fs::exists(summary) || fs::exists(metrics),
           "compare: '{}' is not a training run (no run_summary.json, no metrics.jsonl)", dir);
  r.final_loss = r.best_loss = r.first_loss = kNotRecorded;
  r.step_time_s = r.tokens_per_s = kNotRecorded;
  if (fs::exists(summary)) {
    const vr::train::RunSummary rs = vr::train::RunSummary::from_json(vr::read_json_file(summary.string()));
    r.finished = true;
    r.strategy = rs.strategy;
    r.stage = rs.stage;
    r.method = rs.method;
    r.layers = rs.layers;
    r.num_layers = rs.num_layers;
    r.scores = rs.selection_scores;
    r.trainable_params = rs.trainable_params;
    r.total_params = rs.total_params;
    r.samples = rs.samples;
    r.peak_rss_bytes = rs.peak_rss_bytes;
    r.seed = rs.seed;
    r.steps = rs.steps;
    r.figures = rs.figures;
  } else if (fs::exists(config)) {
    const YAML::Node y = YAML::LoadFile(config.string());
    r.stage = yaml_string(y, "train", "stage");
    r.method = yaml_string(y, "train", "method");
    r.strategy = r.stage == "sft" ? yaml_string(y, "selection", "strategy") : r.stage;
  }
  if (r.scores.empty())  // `vrtrain score` output in the same directory
    for (const auto& e : fs::directory_iterator(p)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("selection_", 0) == 0 && e.path().extension() == ".json") {
        const nlohmann::json j = vr::read_json_file(e.path().string());
        r.scores = j.value("scores", std::vector<double>{});
        if (r.layers.empty()) r.layers = j.value("layers", std::vector<int64_t>{});
        if (r.num_layers == 0) r.num_layers = j.value("num_layers", int64_t{0});
        break;
      }
    }
  if (fs::exists(metrics)) {
    std::vector<double> times;
    double tokens = 0, time_sum = 0;
    vr::train::RunFigureLog figure_log;
    for (const auto& m : vr::read_jsonl(metrics.string())) {
      if (!m.is_object() || !m.contains("step") || !m.contains("loss") || !m["loss"].is_number()) continue;
      figure_log.add_line(m);
      r.loss_steps.push_back(m["step"].get<double>());
      r.losses.push_back(m["loss"].get<double>());
      const double t = m.value("step_time_s", 0.0);
      times.push_back(t);
      time_sum += t;
      tokens += m.value("tokens", 0.0);
    }
    if (!r.losses.empty()) {
      r.first_loss = r.losses.front();
      r.final_loss = r.losses.back();
      r.best_loss = *std::min_element(r.losses.begin(), r.losses.end());
      if (r.steps == 0) r.steps = static_cast<int64_t>(r.loss_steps.back());
      r.step_time_s = vr::train::median_after_warmup(times).value_or(kNotRecorded);
      if (time_sum > 0) r.tokens_per_s = tokens / time_sum;
    }
    if (!r.finished) r.figures = figure_log.figures();
  }
  read_evals(r, p / "eval");
  read_evals(r, p);
  std::sort(r.evals.begin(), r.evals.end(),
            [](const EvalSummary& a, const EvalSummary& b) { return eval_key(a) < eval_key(b); });
  return r;
}

}  // namespace vr::report
