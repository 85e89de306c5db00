// SVG bar chart. Layout (pixels): a fixed plot height, bar slots of equal width, margins for the axes.
#include "vr/report/bar_chart.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"

namespace vr::report {
namespace {

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A "nice" tick step (1, 2 or 5 × 10^n) giving about `ticks` intervals over `span`.
double tick_step(double span, int ticks) {
  double raw = span / ticks, mag = std::pow(10.0, std::floor(std::log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

}  // namespace

std::string render_svg(const BarChart& c) {
  const size_t n = c.values.size();
  VR_CHECK(c.labels.empty() || c.labels.size() == n, "bar chart: {} labels for {} values", c.labels.size(), n);
  VR_CHECK(c.highlighted.empty() || c.highlighted.size() == n, "bar chart: {} highlight flags for {} values",
           c.highlighted.size(), n);
  const double slot = n > 48 ? 12 : 22, plot_h = 260, left = 70, right = 20, top = 50, bottom = 60;
  const double plot_w = std::max<double>(slot * static_cast<double>(n), 200);
  const double width = left + plot_w + right, height = top + plot_h + bottom;

  double lo = 0, hi = 0;
  for (double v : c.values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi - lo <= 0) hi = lo + 1;
  const double step = tick_step(hi - lo, 5);
  lo = std::floor(lo / step) * step, hi = std::ceil(hi / step) * step;
  auto y_of = [&](double v) { return top + plot_h * (hi - v) / (hi - lo); };

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);
  s += fmt::format("<text x=\"{:.1f}\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">{}</text>\n", width / 2,
                   escape_xml(c.title));
  // Horizontal grid lines and y tick labels.
  for (double v = lo; v <= hi + step * 1e-9; v += step) {
    s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left,
                     left + plot_w, y_of(v), y_of(v));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.4g}</text>\n", left - 6, y_of(v) + 4,
                     std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  // Bars, with a tooltip (<title>) carrying the exact value.
  for (size_t i = 0; i < n; ++i) {
    const double x = left + slot * static_cast<double>(i);
    const std::string label = c.labels.empty() ? std::to_string(i) : c.labels[i];
    if (std::isfinite(c.values[i])) {
      const double y0 = y_of(0), y1 = y_of(c.values[i]);
      const bool hl = !c.highlighted.empty() && c.highlighted[i];
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} {}: {:.6g}"
          "</title></rect>\n",
          x + slot * 0.1, std::min(y0, y1), slot * 0.8, std::abs(y1 - y0), hl ? "#d62728" : "#9db4cc",
          escape_xml(c.x_label), escape_xml(label), c.values[i]);
    }
    if (n <= 48 || i % 4 == 0)
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x + slot / 2,
                       top + plot_h + 14, escape_xml(label));
  }
  // Axes, axis titles, legend.
  s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n", left, top,
                   top + plot_h);
  s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n", left,
                   left + plot_w, y_of(0));
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", left + plot_w / 2,
                   top + plot_h + 32, escape_xml(c.x_label));
  s += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                   top + plot_h / 2, escape_xml(c.y_label));
  if (!c.highlighted.empty()) {
    const double ly = top + plot_h + 44;
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"#d62728\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
                     left, ly, left + 14, ly + 9, escape_xml(c.legend_highlighted));
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"#9db4cc\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
                     left + 110, ly, left + 124, ly + 9, escape_xml(c.legend_other));
  }
  s += "</svg>\n";
  return s;
}

void write_svg(const BarChart& chart, const std::string& path) { vr::atomic_write_file(path, render_svg(chart)); }

}  // namespace vr::report
