#include "vr/report/canvas.h"

#include <fmt/format.h>

#include "vr/core/file_io.h"

namespace vr::report {

std::string Color::hex() const { return fmt::format("#{:02x}{:02x}{:02x}", r, g, b); }

Color palette(size_t i) {
  static const Color k[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},   {148, 103, 189},
                            {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return k[i % 10];
}

namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

class SvgCanvas : public Canvas {
 public:
  std::string body;
  void rect(double x, double y, double w, double h, Color fill) override {
    body += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n", x, y, w,
                        h, fill.hex());
  }
  void line(double x1, double y1, double x2, double y2, Color c, double width) override {
    body += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
                        "stroke-width=\"{:.1f}\"/>\n",
                        x1, y1, x2, y2, c.hex(), width);
  }
  void polyline(const std::vector<std::pair<double, double>>& pts, Color c, double width) override {
    if (pts.empty()) return;
    std::string p;
    for (const auto& [x, y] : pts) p += fmt::format("{:.1f},{:.1f} ", x, y);
    body += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{:.1f}\"/>\n", p, c.hex(),
                        width);
  }
  void text(double x, double y, const std::string& s, double size, Anchor a, Color c, bool vertical) override {
    const char* anchor = a == Anchor::Start ? "start" : a == Anchor::Middle ? "middle" : "end";
    body += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{:.0f}\" text-anchor=\"{}\" fill=\"{}\"{}>{}</text>\n",
                        x, y, size, anchor, c.hex(),
                        vertical ? fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", x, y) : "", escape(s));
  }
};

}  // namespace

std::string render_svg(int width, int height, const Drawing& draw) {
  SvgCanvas c;
  c.rect(0, 0, width, height, {255, 255, 255});
  draw(c);
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
                     "font-family=\"sans-serif\">\n{}</svg>\n",
                     width, height, width, height, c.body);
}

std::vector<std::string> write_svg_and_png(int width, int height, const Drawing& draw, const std::string& stem) {
  vr::atomic_write_file(stem + ".svg", render_svg(width, height, draw));
  write_png(width, height, draw, stem + ".png");
  return {stem + ".svg", stem + ".png"};
}

}  // namespace vr::report
