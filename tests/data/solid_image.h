// Test images for loader and packing tests: the pixels do not matter, only that a sample has an image.
#pragma once
#include <cstdint>

#include "vr/image/image.h"

namespace vr::test {

// A side x side RGB image with every byte = value.
inline vr::image::Image solid_image(int side, uint8_t value) {
  vr::image::Image img;
  img.width = img.height = side;
  img.pixels.assign(static_cast<size_t>(side) * side * 3, value);
  return img;
}

}  // namespace vr::test
