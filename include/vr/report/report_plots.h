// The plots of `vrtrain compare`, as Drawings (vr/eval/canvas.h) rendered to SVG and PNG:
//   loss_curves      every run's training loss against the step, one coloured line per run, on one chart;
//   score_bars       per-layer selection scores, one small bar chart per run that has scores, selected layers red;
//   selection_strip  layers on the x axis, one row per run, selected (trained) layers filled.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/report/canvas.h"

namespace vr::report {

struct Plot {
  int width = 0, height = 0;
  Drawing draw;
};

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite y values are skipped
};
Plot loss_curves(const std::string& title, const std::vector<Series>& series);

struct LayerRow {
  std::string name;
  int64_t num_layers = 0;
  std::vector<int64_t> selected;  // layer indices
  std::vector<double> scores;     // empty, or one per layer
};
Plot score_bars(const std::string& title, const std::vector<LayerRow>& rows);  // rows without scores are left out
Plot selection_strip(const std::string& title, const std::vector<LayerRow>& rows);

// "1.5", "0.25", "1e-05", "1200": short tick labels.
std::string tick_label(double v);

}  // namespace vr::report
