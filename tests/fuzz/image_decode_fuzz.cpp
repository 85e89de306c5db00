// libFuzzer target for image decoding (JPEG via libjpeg-turbo, PNG/BMP/GIF via stb_image) and the pixel
// geometry a sample then goes through (pad to square, bicubic resize as CLIP/SigLIP do). Only vr::Error may
// escape, and ASan must stay quiet. The pixel limit is small so huge-but-valid headers stay cheap.
#include <cstdint>
#include <cstdlib>

#include "vr/core/error.h"
#include "vr/image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    vr::image::Image img = vr::image::decode_image(data, size, "fuzz", /*max_pixels=*/1 << 20);
    if (img.pixels.size() != static_cast<size_t>(img.width) * img.height * 3) std::abort();
    vr::image::Image sq = vr::image::expand_to_square(img, {122, 116, 104});
    if (sq.width != sq.height) std::abort();
    vr::image::Image small = vr::image::resize_bicubic(sq, 14, 14);
    if (small.pixels.size() != 14 * 14 * 3) std::abort();
  } catch (const vr::Error&) {
  }
  return 0;
}
