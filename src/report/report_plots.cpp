#include "vr/report/report_plots.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace vr::report {

namespace {

const Color kInk = gray(40), kGrid = gray(225), kSelected = {214, 39, 40}, kOther = gray(170);

// ~5 "nice" ticks (1, 2, 5 x 10^k steps) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

}  // namespace

std::string tick_label(double v) { return fmt::format("{:.4g}", v); }

Plot loss_curves(const std::string& title, const std::vector<Series>& series) {
  Plot p;
  p.width = 760;
  p.height = 420 + 18 * static_cast<int>((series.size() + 2) / 3);
  p.draw = [title, series, w = p.width](Canvas& c) {
    const double L = 70, T = 40, R = 20, H = 320;
    const double W = w - L - R;
    double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
    for (const auto& s : series)
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.y[i])) continue;
        x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
      }
    if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    auto X = [&](double v) { return L + (v - x0) / (x1 - x0) * W; };
    auto Y = [&](double v) { return T + (1 - (v - y0) / (y1 - y0)) * H; };
    c.text(w / 2.0, 24, title, 16, Anchor::Middle, kInk);
    for (double t : nice_ticks(y0, y1)) {
      c.line(L, Y(t), L + W, Y(t), kGrid, 1);
      c.text(L - 6, Y(t) + 4, tick_label(t), 11, Anchor::End, kInk);
    }
    for (double t : nice_ticks(x0, x1)) c.text(X(t), T + H + 16, tick_label(t), 11, Anchor::Middle, kInk);
    c.line(L, T + H, L + W, T + H, kInk, 1);
    c.line(L, T, L, T + H, kInk, 1);
    c.text(L + W / 2, T + H + 36, "step", 12, Anchor::Middle, kInk);
    c.text(18, T + H / 2, "training loss", 12, Anchor::Middle, kInk, /*vertical=*/true);
    for (size_t k = 0; k < series.size(); ++k) {
      std::vector<std::pair<double, double>> pts;
      for (size_t i = 0; i < series[k].x.size() && i < series[k].y.size(); ++i)
        if (std::isfinite(series[k].y[i])) pts.emplace_back(X(series[k].x[i]), Y(series[k].y[i]));
      c.polyline(pts, palette(k), 1.8);
      // Legend: three entries per line under the chart.
      const double lx = L + static_cast<double>(k % 3) * (W / 3), ly = T + H + 56 + 18 * static_cast<double>(k / 3);
      c.rect(lx, ly - 9, 14, 10, palette(k));
      c.text(lx + 20, ly, series[k].name, 11, Anchor::Start, kInk);
    }
  };
  return p;
}

Plot score_bars(const std::string& title, const std::vector<LayerRow>& all) {
  std::vector<LayerRow> rows;
  for (const auto& r : all)
    if (!r.scores.empty()) rows.push_back(r);
  Plot p;
  p.width = 760;
  const double panel = 130;
  p.height = 50 + static_cast<int>(panel * std::max<size_t>(rows.size(), 1));
  p.draw = [title, rows, w = p.width, panel](Canvas& c) {
    c.text(w / 2.0, 24, title, 16, Anchor::Middle, kInk);
    if (rows.empty()) {
      c.text(w / 2.0, 80, "no run has per-layer scores (importance strategies write them)", 12, Anchor::Middle, kInk);
      return;
    }
    const double L = 70, R = 20, W = w - L - R;
    for (size_t k = 0; k < rows.size(); ++k) {
      const LayerRow& r = rows[k];
      const double top = 40 + panel * static_cast<double>(k) + 18, h = panel - 48;
      double lo = 0, hi = 0;
      for (double v : r.scores)
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      if (hi <= lo) hi = lo + 1;
      auto Y = [&](double v) { return top + (1 - (v - lo) / (hi - lo)) * h; };
      c.text(L, top - 6, r.name, 12, Anchor::Start, kInk);
      c.line(L, Y(0), L + W, Y(0), kInk, 1);
      c.text(L - 6, Y(hi) + 4, tick_label(hi), 10, Anchor::End, kInk);
      if (lo < 0) c.text(L - 6, Y(lo) + 4, tick_label(lo), 10, Anchor::End, kInk);
      const double n = static_cast<double>(r.scores.size());
      const double bw = W / n;
      for (size_t l = 0; l < r.scores.size(); ++l) {
        const double v = r.scores[l];
        const bool sel = std::find(r.selected.begin(), r.selected.end(), static_cast<int64_t>(l)) != r.selected.end();
        if (std::isfinite(v))
          c.rect(L + bw * static_cast<double>(l) + bw * 0.1, std::min(Y(v), Y(0)), bw * 0.8, std::abs(Y(v) - Y(0)),
                 sel ? kSelected : kOther);
        c.text(L + bw * (static_cast<double>(l) + 0.5), top + h + 14, std::to_string(l), 9, Anchor::Middle, kInk);
      }
    }
  };
  return p;
}

Plot selection_strip(const std::string& title, const std::vector<LayerRow>& rows) {
  int64_t layers = 1;
  for (const auto& r : rows) layers = std::max(layers, r.num_layers);
  Plot p;
  p.width = 760;
  const double row_h = 22;
  p.height = 90 + static_cast<int>(row_h * static_cast<double>(rows.size()));
  p.draw = [title, rows, layers, w = p.width, row_h](Canvas& c) {
    c.text(w / 2.0, 24, title, 16, Anchor::Middle, kInk);
    const double L = 200, R = 20, T = 44, W = w - L - R, cw = W / static_cast<double>(layers);
    for (size_t k = 0; k < rows.size(); ++k) {
      const double y = T + row_h * static_cast<double>(k);
      c.text(L - 8, y + row_h * 0.7, rows[k].name, 11, Anchor::End, kInk);
      for (int64_t l = 0; l < rows[k].num_layers; ++l) {
        const bool sel =
            std::find(rows[k].selected.begin(), rows[k].selected.end(), l) != rows[k].selected.end();
        c.rect(L + cw * static_cast<double>(l) + 1, y + 2, cw - 2, row_h - 4, sel ? palette(k) : gray(235));
      }
    }
    const double yb = T + row_h * static_cast<double>(rows.size()) + 16;
    for (int64_t l = 0; l < layers; ++l)
      c.text(L + cw * (static_cast<double>(l) + 0.5), yb, std::to_string(l), 10, Anchor::Middle, kInk);
    c.text(L + W / 2, yb + 20, "LLM layer (filled: trained)", 12, Anchor::Middle, kInk);
  };
  return p;
}

}  // namespace vr::report
