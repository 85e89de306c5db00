// A self-contained SVG bar chart (no plotting library): one bar per item, highlighted bars drawn in a second
// colour. Used for per-layer selection scores; opens in any browser.
#pragma once
#include <string>
#include <vector>

namespace vr::report {

struct BarChart {
  std::string title;
  std::string x_label = "layer";
  std::string y_label = "score";
  std::vector<std::string> labels;  // one per bar (x axis)
  std::vector<double> values;       // one per bar; NaN draws no bar
  std::vector<bool> highlighted;    // empty, or one per bar (e.g. the selected layers)
  std::string legend_highlighted = "selected";
  std::string legend_other = "not selected";
};

// The chart as SVG text. Values may be negative (bars grow from zero); the y axis spans [min(0, v), max(0, v)].
std::string render_svg(const BarChart& chart);
// Writes render_svg(chart) to path (atomically).
void write_svg(const BarChart& chart, const std::string& path);

}  // namespace vr::report
