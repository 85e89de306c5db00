// Pillow's ImagingResample for 8-bit RGB, written from its published algorithm (libImaging/Resample.c).
//
// One pass maps n_in samples to n_out along one axis. For output i:
//   scale   = n_in / n_out                 filterscale fs = max(scale, 1)   (antialias when shrinking)
//   support = filter_support * fs          (bicubic: 2, so 2*fs input samples on each side)
//   center  = (i + 0.5) * scale
//   first   = max(int(center - support + 0.5), 0)      last = min(int(center + support + 0.5), n_in)
//   w_j     = K((j - center + 0.5) * (1 / fs)) for j in [first, last), then divided by their sum
//   k_j     = round_half_away(w_j * 2^22) as int32            (PRECISION_BITS = 32 - 8 - 2 = 22)
//   out_i   = clamp((2^21 + sum_j k_j * in_j) >> 22, 0, 255)  (arithmetic shift)
// The horizontal pass runs first (when the width changes), the vertical pass second (when the height
// changes), each producing uint8; that intermediate rounding is part of the result. The float expressions
// keep Pillow's operation order (e.g. `* (1 / fs)` rather than `/ fs`) because the fixed-point rounding
// of the weights can flip on the last bit.
#include <algorithm>
#include <cmath>
#include <vector>

#include "vr/core/error.h"
#include "vr/image/image.h"

namespace vr::image {
namespace {

constexpr int kPrecisionBits = 22;

double box_kernel(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_kernel(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_kernel(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // Pillow writes the constants as floats
}

// Keys' cubic convolution kernel with a = -0.5, in Pillow's Horner form.
double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos_kernel(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

struct Kernel {
  double (*fn)(double);
  double support;
};

Kernel kernel_of(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::Box: return {box_kernel, 0.5};
    case ResampleFilter::Bilinear: return {bilinear_kernel, 1.0};
    case ResampleFilter::Hamming: return {hamming_kernel, 1.0};
    case ResampleFilter::Bicubic: return {bicubic_kernel, 2.0};
    case ResampleFilter::Lanczos: return {lanczos_kernel, 3.0};
    case ResampleFilter::Nearest: break;
  }
  VR_FAIL("resampling filter {} is not supported (use bicubic, bilinear, lanczos, box or hamming)",
          static_cast<int>(f));
}

// Fixed-point taps of output samples [out_begin, out_end) of a pass n_in -> n_out.
struct Taps {
  int ksize = 0;               // max taps per output sample
  std::vector<int> first;      // first input index per output sample
  std::vector<int> count;      // number of taps per output sample
  std::vector<int32_t> coeff;  // [n, ksize], zero beyond count
};

Taps compute_taps(int n_in, int n_out, int out_begin, int out_end, Kernel kernel) {
  double scale = static_cast<double>(n_in) / n_out;
  double filterscale = std::max(scale, 1.0);
  double support = kernel.support * filterscale;
  double inv_filterscale = 1.0 / filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  int n = out_end - out_begin;
  t.first.resize(n);
  t.count.resize(n);
  t.coeff.assign(static_cast<size_t>(n) * t.ksize, 0);
  std::vector<double> w(t.ksize);
  for (int i = 0; i < n; ++i) {
    double center = (out_begin + i + 0.5) * scale;
    int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    int hi = std::min(static_cast<int>(center + support + 0.5), n_in);
    int cnt = hi - lo;
    double sum = 0.0;
    for (int j = 0; j < cnt; ++j) {
      w[j] = kernel.fn((j + lo - center + 0.5) * inv_filterscale);
      sum += w[j];
    }
    int32_t* k = &t.coeff[static_cast<size_t>(i) * t.ksize];
    for (int j = 0; j < cnt; ++j) {
      double v = sum != 0.0 ? w[j] / sum : w[j];
      v *= (1 << kPrecisionBits);
      k[j] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    t.first[i] = lo;
    t.count[i] = cnt;
  }
  return t;
}

inline uint8_t clip8(int32_t acc) {
  int32_t v = acc >> kPrecisionBits;  // arithmetic shift, as Pillow's lookup table does
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass: rows [row_begin, row_end) of `src`, output columns given by `taps`.
Image horizontal_pass(const Image& src, int row_begin, int row_end, const Taps& taps) {
  Image out;
  out.width = static_cast<int>(taps.first.size());
  out.height = row_end - row_begin;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  constexpr int32_t half = 1 << (kPrecisionBits - 1);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* in = src.row(row_begin + y);
    uint8_t* o = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      const int32_t* k = &taps.coeff[static_cast<size_t>(x) * taps.ksize];
      const uint8_t* p = in + taps.first[x] * 3;
      int32_t r = half, g = half, b = half;
      for (int j = 0, n = taps.count[x]; j < n; ++j, p += 3) {
        r += p[0] * k[j];
        g += p[1] * k[j];
        b += p[2] * k[j];
      }
      o[3 * x + 0] = clip8(r);
      o[3 * x + 1] = clip8(g);
      o[3 * x + 2] = clip8(b);
    }
  }
  return out;
}

// Vertical pass: every output row is a weighted sum of whole input rows (row_offset: index of src row 0
// in the coordinates of `taps`). Accumulating row by row keeps memory access sequential and vectorisable.
Image vertical_pass(const Image& src, int row_offset, const Taps& taps) {
  Image out;
  out.width = src.width;
  out.height = static_cast<int>(taps.first.size());
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  size_t n = src.stride();
  std::vector<int32_t> acc(n);
  for (int y = 0; y < out.height; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &taps.coeff[static_cast<size_t>(y) * taps.ksize];
    for (int j = 0; j < taps.count[y]; ++j) {
      const uint8_t* in = src.row(taps.first[y] - row_offset + j);
      int32_t kj = k[j];
      int32_t* a = acc.data();
      for (size_t i = 0; i < n; ++i) a[i] += in[i] * kj;
    }
    uint8_t* o = out.row(y);
    for (size_t i = 0; i < n; ++i) o[i] = clip8(acc[i]);
  }
  return out;
}

void check_image(const Image& img, const char* what) {
  VR_CHECK(img.width > 0 && img.height > 0 &&
               img.pixels.size() == static_cast<size_t>(img.width) * img.height * 3,
           "{}: invalid image {}x{} with {} bytes", what, img.width, img.height, img.pixels.size());
}

}  // namespace

ResampleFilter resample_filter_from_pil(int code) {
  switch (code) {
    case 1: return ResampleFilter::Lanczos;
    case 2: return ResampleFilter::Bilinear;
    case 3: return ResampleFilter::Bicubic;
    case 4: return ResampleFilter::Box;
    case 5: return ResampleFilter::Hamming;
    case 0: VR_FAIL("resample 0 (PIL NEAREST) is not supported; use 3 (bicubic), 2, 1, 4 or 5");
    default: VR_FAIL("unknown PIL resample code {} (expected 1..5; 3 = bicubic)", code);
  }
}

Image resize_window(const Image& img, int width, int height, ResampleFilter filter, Rect w) {
  check_image(img, "resize");
  VR_CHECK(width > 0 && height > 0, "resize to {}x{}: sizes must be positive", width, height);
  VR_CHECK(w.width > 0 && w.height > 0 && w.x >= 0 && w.y >= 0 && w.x + w.width <= width &&
               w.y + w.height <= height,
           "resize window ({}, {}, {}x{}) outside the {}x{} output", w.x, w.y, w.width, w.height, width, height);
  Kernel kernel = kernel_of(filter);
  bool need_h = width != img.width, need_v = height != img.height;
  if (!need_h && !need_v) return crop(img, w);

  // Input rows the vertical pass reads (taps are monotone in the output index).
  Taps vtaps;
  int row_begin = w.y, row_end = w.y + w.height;
  if (need_v) {
    vtaps = compute_taps(img.height, height, w.y, w.y + w.height, kernel);
    row_begin = vtaps.first.front();
    row_end = vtaps.first.back() + vtaps.count.back();
  }
  Image mid;
  if (need_h) {
    Taps htaps = compute_taps(img.width, width, w.x, w.x + w.width, kernel);
    mid = horizontal_pass(img, row_begin, row_end, htaps);
  } else {
    mid = crop(img, {w.x, row_begin, w.width, row_end - row_begin});
  }
  return need_v ? vertical_pass(mid, row_begin, vtaps) : mid;
}

Image resize(const Image& img, int width, int height, ResampleFilter filter) {
  return resize_window(img, width, height, filter, {0, 0, width, height});
}

Image resize_bicubic(const Image& img, int width, int height) {
  return resize(img, width, height, ResampleFilter::Bicubic);
}

}  // namespace vr::image
