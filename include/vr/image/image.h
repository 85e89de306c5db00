// 8-bit RGB images: decoding (PNG, JPEG, GIF, BMP), LLaVA's pad-to-square and Pillow-exact resampling.
// Every function here reproduces what the Python pipeline (PIL + Hugging Face image processors) computes,
// bit for bit, so that pixel values fed to the vision tower equal those of the reference code.
// Legend: W = width, H = height; pixels are stored HWC, row-major, 3 bytes (R, G, B) per pixel.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vr::image {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [H, W, 3] uint8, row-major

  size_t stride() const { return static_cast<size_t>(width) * 3; }  // bytes per row
  const uint8_t* row(int y) const { return pixels.data() + y * stride(); }
  uint8_t* row(int y) { return pixels.data() + y * stride(); }
};

// PIL refuses images above 2 * 89,478,485 pixels (DecompressionBombError); so do we, before decoding.
constexpr int64_t kMaxImagePixels = 2 * int64_t{89478485};

// Decodes PNG / JPEG / GIF (first frame) / BMP, chosen by the leading magic bytes (never the extension),
// and converts to RGB the way PIL's `Image.open(f).convert("RGB")` does: grey is replicated, palettes are
// looked up, alpha is dropped without compositing. JPEG goes through libjpeg-turbo with PIL's settings
// (accurate integer DCT, fancy upsampling), so pixels equal PIL's. Corrupt, truncated or oversized
// (> max_pixels) input throws vr::Error naming `source`.
Image decode_image(const uint8_t* data, size_t size, const std::string& source,
                   int64_t max_pixels = kMaxImagePixels);
Image decode_image_file(const std::string& path, int64_t max_pixels = kMaxImagePixels);

// LLaVA's expand2square: a side x side canvas (side = max(W, H)) filled with `fill`, the image pasted at
// ((side - W) / 2, (side - H) / 2) with floor division. A square image is returned unchanged.
Image expand_to_square(const Image& img, std::array<uint8_t, 3> fill);

// Pillow's resampling filters, numbered as PIL.Image.Resampling (and HF's `resample` config key).
enum class ResampleFilter { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };
ResampleFilter resample_filter_from_pil(int code);  // throws for Nearest (not implemented) and unknown codes

// A window [x, x + width) x [y, y + height) of an image.
struct Rect {
  int x = 0, y = 0, width = 0, height = 0;
};

// Pillow's `Image.resize((width, height), filter)` on 8-bit RGB (ImagingResample): antialiased convolution,
// horizontal pass then vertical pass, fixed-point coefficients, uint8 rounding between the passes.
Image resize(const Image& img, int width, int height, ResampleFilter filter);
Image resize_bicubic(const Image& img, int width, int height);  // BICUBIC, a = -0.5

// The `window` of resize(img, width, height, filter), computing only the output pixels inside it (each output
// pixel depends only on its own coefficients, so this equals resizing fully and cropping, bit for bit).
// The window must lie inside [0, width) x [0, height).
Image resize_window(const Image& img, int width, int height, ResampleFilter filter, Rect window);

// Copy of a window that lies inside the image.
Image crop(const Image& img, Rect window);

}  // namespace vr::image
