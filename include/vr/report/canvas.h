// A minimal drawing surface for report plots, drawn once and rendered twice: SvgCanvas (text, always) and
// PNG through Debian's libcairo (write_png). Coordinates in pixels, origin top-left, y down.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace vr::report {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
  std::string hex() const;  // "#1f77b4"
};
// Tableau-10 palette by index (wraps around), for one colour per run.
Color palette(size_t i);
inline Color gray(uint8_t v) { return {v, v, v}; }

enum class Anchor { Start, Middle, End };

class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual void rect(double x, double y, double w, double h, Color fill) = 0;
  virtual void line(double x1, double y1, double x2, double y2, Color c, double width) = 0;
  virtual void polyline(const std::vector<std::pair<double, double>>& pts, Color c, double width) = 0;
  // Text with its baseline at y; `vertical` rotates it 90° counter-clockwise around (x, y).
  virtual void text(double x, double y, const std::string& s, double size, Anchor a, Color c,
                    bool vertical = false) = 0;
};

using Drawing = std::function<void(Canvas&)>;

// The drawing as SVG text (white background).
std::string render_svg(int width, int height, const Drawing& draw);
// The drawing as a PNG file (white background), rendered by cairo; vr::Error naming the file on failure.
void write_png(int width, int height, const Drawing& draw, const std::string& path);
// Both: <stem>.svg and <stem>.png; returns the two paths.
std::vector<std::string> write_svg_and_png(int width, int height, const Drawing& draw, const std::string& stem);

}  // namespace vr::report
