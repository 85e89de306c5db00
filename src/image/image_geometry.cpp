// Pixel-copying geometry: LLaVA's expand2square and plain crops.
#include <algorithm>
#include <cstring>

#include "vr/core/error.h"
#include "vr/image/image.h"

namespace vr::image {

Image expand_to_square(const Image& img, std::array<uint8_t, 3> fill) {
  VR_CHECK(img.width > 0 && img.height > 0 &&
               img.pixels.size() == static_cast<size_t>(img.width) * img.height * 3,
           "expand_to_square: invalid image {}x{} with {} bytes", img.width, img.height, img.pixels.size());
  if (img.width == img.height) return img;
  // LLaVA: W > H pastes at (0, (W - H) // 2); H > W at ((H - W) // 2, 0).
  int side = std::max(img.width, img.height);
  // A sliver (e.g. 6 x 8,000,000, allowed by the decoder's pixel limit) would pad to a 64-terapixel canvas.
  VR_CHECK(static_cast<int64_t>(side) * side <= kMaxImagePixels,
           "padding a {}x{} image to a square needs {}x{} pixels, more than the limit of {} pixels (a corrupt or "
           "absurdly elongated image)",
           img.width, img.height, side, side, kMaxImagePixels);
  int x0 = (side - img.width) / 2, y0 = (side - img.height) / 2;
  Image out;
  out.width = out.height = side;
  out.pixels.resize(static_cast<size_t>(side) * side * 3);
  // Fill one row, then replicate it: side * 3 bytes per row.
  uint8_t* first = out.row(0);
  for (int x = 0; x < side; ++x) std::memcpy(first + 3 * x, fill.data(), 3);
  for (int y = 1; y < side; ++y) std::memcpy(out.row(y), first, out.stride());
  for (int y = 0; y < img.height; ++y)
    std::memcpy(out.row(y0 + y) + static_cast<size_t>(x0) * 3, img.row(y), img.stride());
  return out;
}

Image crop(const Image& img, Rect w) {
  VR_CHECK(w.width > 0 && w.height > 0 && w.x >= 0 && w.y >= 0 && w.x + w.width <= img.width &&
               w.y + w.height <= img.height,
           "crop window ({}, {}, {}x{}) outside the {}x{} image", w.x, w.y, w.width, w.height, img.width,
           img.height);
  Image out;
  out.width = w.width;
  out.height = w.height;
  out.pixels.resize(static_cast<size_t>(w.width) * w.height * 3);
  for (int y = 0; y < w.height; ++y)
    std::memcpy(out.row(y), img.row(w.y + y) + static_cast<size_t>(w.x) * 3, out.stride());
  return out;
}

}  // namespace vr::image
