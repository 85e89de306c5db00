// PNG rendering of a Drawing with libcairo (Debian libcairo2-dev). <cairo/cairo.h> needs no extra include path:
// it only includes its siblings (cairo-version.h, cairo-features.h, cairo-deprecated.h).
#include <cmath>
#include <filesystem>

#include <cairo/cairo.h>

#include "vr/core/error.h"
#include "vr/report/canvas.h"

namespace vr::report {

namespace {

class CairoCanvas : public Canvas {
 public:
  explicit CairoCanvas(cairo_t* cr) : cr_(cr) {}
  void rect(double x, double y, double w, double h, Color fill) override {
    set(fill);
    cairo_rectangle(cr_, x, y, w, h);
    cairo_fill(cr_);
  }
  void line(double x1, double y1, double x2, double y2, Color c, double width) override {
    set(c);
    cairo_set_line_width(cr_, width);
    cairo_move_to(cr_, x1, y1);
    cairo_line_to(cr_, x2, y2);
    cairo_stroke(cr_);
  }
  void polyline(const std::vector<std::pair<double, double>>& pts, Color c, double width) override {
    if (pts.empty()) return;
    set(c);
    cairo_set_line_width(cr_, width);
    cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
    cairo_move_to(cr_, pts[0].first, pts[0].second);
    for (size_t i = 1; i < pts.size(); ++i) cairo_line_to(cr_, pts[i].first, pts[i].second);
    cairo_stroke(cr_);
  }
  void text(double x, double y, const std::string& s, double size, Anchor a, Color c, bool vertical) override {
    set(c);
    cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t ext;
    cairo_text_extents(cr_, s.c_str(), &ext);
    const double shift = a == Anchor::Start ? 0 : a == Anchor::Middle ? ext.x_advance / 2 : ext.x_advance;
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    if (vertical) cairo_rotate(cr_, -1.5707963267948966);  // -90 degrees
    cairo_move_to(cr_, -shift, 0);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
  }

 private:
  void set(Color c) { cairo_set_source_rgb(cr_, c.r / 255.0, c.g / 255.0, c.b / 255.0); }
  cairo_t* cr_;
};

}  // namespace

void write_png(int width, int height, const Drawing& draw, const std::string& path) {
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  cairo_t* cr = cairo_create(surface);
  CairoCanvas c(cr);
  c.rect(0, 0, width, height, {255, 255, 255});
  draw(c);
  cairo_surface_flush(surface);
  // Written beside the target and renamed, so a reader never sees half a PNG.
  const std::string tmp = path + ".tmp";
  const cairo_status_t st = cairo_surface_write_to_png(surface, tmp.c_str());
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  VR_CHECK(st == CAIRO_STATUS_SUCCESS, "cannot write PNG '{}': {}", path, cairo_status_to_string(st));
  std::filesystem::rename(tmp, path);
}

}  // namespace vr::report
