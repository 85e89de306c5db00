// Decoding and resampling against held-out PIL outputs (tests/data_files/images, made by generate.py there
// with Pillow 9.4 / libjpeg-turbo 2.1; expected images are PNGs so reading them back is exact).
#include "vr/core/file_io.h"
#include "vr/image/image.h"

#include <cctype>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "vr/core/error.h"

namespace image_image_test {

namespace {

using vr::image::Image;

std::string data_file(const std::string& name) { return std::string(VR_TEST_DATA_DIR) + "/images/" + name; }

// Exact pixel equality, reporting the first difference.
::testing::AssertionResult same_pixels(const Image& got, const Image& exp) {
  if (got.width != exp.width || got.height != exp.height)
    return ::testing::AssertionFailure()
           << "size " << got.width << "x" << got.height << " vs expected " << exp.width << "x" << exp.height;
  int ndiff = 0, maxdiff = 0;
  size_t first = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) {
    int d = std::abs(int(got.pixels[i]) - int(exp.pixels[i]));
    if (d && !ndiff++) first = i;
    maxdiff = std::max(maxdiff, d);
  }
  if (!ndiff) return ::testing::AssertionSuccess();
  size_t px = first / 3;
  return ::testing::AssertionFailure() << ndiff << " values differ (max |diff| " << maxdiff << "), first at x="
                                       << px % got.width << " y=" << px / got.width << " c=" << first % 3
                                       << ": " << int(got.pixels[first]) << " vs " << int(exp.pixels[first]);
}

Image make_image(int w, int h, uint32_t seed) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (auto& p : img.pixels) p = uint8_t((seed = seed * 1664525u + 1013904223u) >> 24);
  return img;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string bytes = vr::read_file(path);
  return {bytes.begin(), bytes.end()};
}

// ---- decoding: Image.open(f).convert("RGB") --------------------------------------------------------

class DecodeMatchesPil : public ::testing::TestWithParam<const char*> {};

TEST_P(DecodeMatchesPil, Exactly) {
  std::string name = GetParam();
  std::string expected = "dec_" + name;
  std::replace(expected.begin(), expected.end(), '.', '_');
  Image got = vr::image::decode_image_file(data_file(name));
  Image exp = vr::image::decode_image_file(data_file(expected + ".png"));
  EXPECT_TRUE(same_pixels(got, exp)) << name;
}

// JPEG: 4:4:4, 4:2:2, 4:2:0 (fancy upsampling matters), progressive, greyscale, Adobe CMYK.
// PNG: palette, grey+alpha, RGBA, 16-bit grey (PIL clips at 255), 1-bit; BMP 24-bit; GIF palette.
INSTANTIATE_TEST_SUITE_P(Image, DecodeMatchesPil,
                         ::testing::Values("src_q444.jpg", "src_q422.jpg", "src_q420.jpg", "src_prog.jpg",
                                           "src_gray.jpg", "src_cmyk.jpg", "src_palette.png", "src_la.png",
                                           "src_rgba.png", "src_gray16.png", "src_bilevel.png",
                                           "src_rgb24.bmp", "src_palette.gif"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(ImageDecode, FormatComesFromMagicBytesNotExtension) {
  std::vector<uint8_t> png = read_bytes(data_file("src_noise.png"));
  std::string path = ::testing::TempDir() + "/vr_image_really_png.jpg";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), png.size());
  Image a = vr::image::decode_image_file(path);
  Image b = vr::image::decode_image(png.data(), png.size(), "mem");
  EXPECT_EQ(a.width, 23);
  EXPECT_EQ(a.height, 17);
  EXPECT_TRUE(same_pixels(a, b));
}

TEST(ImageDecode, ErrorsNameTheFile) {
  try {
    vr::image::decode_image_file("/nonexistent/cat.jpg");
    FAIL() << "no throw";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cat.jpg"), std::string::npos) << e.what();
  }
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  try {
    vr::image::decode_image(text.data(), text.size(), "notes.png");
    FAIL() << "no throw";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.png: not a PNG, JPEG, GIF or BMP"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(vr::image::decode_image(nullptr, 0, "empty.png"), vr::Error);
}

TEST(ImageDecode, TruncatedJpegIsAnError) {
  // PIL raises "image file is truncated"; libjpeg would otherwise pad the missing rows with grey.
  std::vector<uint8_t> jpg = read_bytes(data_file("src_q420.jpg"));
  jpg.resize(jpg.size() * 2 / 3);
  EXPECT_THROW(vr::image::decode_image(jpg.data(), jpg.size(), "cut.jpg"), vr::Error);
}

TEST(ImageDecode, DecompressionBombGuardReadsOnlyTheHeader) {
  for (const char* name : {"src_q420.jpg", "src_noise.png", "src_palette.gif", "src_rgb24.bmp"}) {
    std::vector<uint8_t> bytes = read_bytes(data_file(name));
    try {
      vr::image::decode_image(bytes.data(), bytes.size(), name, /*max_pixels=*/100);
      FAIL() << name << ": no throw";
    } catch (const vr::Error& e) {
      EXPECT_NE(std::string(e.what()).find("decompression bomb"), std::string::npos) << name << ": " << e.what();
    }
  }
}

// ---- resampling: Image.resize((W, H), filter) -----------------------------------------------------

struct ResizeCase {
  const char* filter_name;
  vr::image::ResampleFilter filter;
  int w, h;
};

class ResizeMatchesPil : public ::testing::TestWithParam<ResizeCase> {};

TEST_P(ResizeMatchesPil, Exactly) {
  const ResizeCase& c = GetParam();
  Image src = vr::image::decode_image_file(data_file("src_noise.png"));  // 23x17 noise with saturated blocks
  Image exp = vr::image::decode_image_file(
      data_file(fmt::format("rs_{}_{}x{}.png", c.filter_name, c.w, c.h)));
  EXPECT_TRUE(same_pixels(vr::image::resize(src, c.w, c.h, c.filter), exp))
      << c.filter_name << " " << c.w << "x" << c.h;
}

using F = vr::image::ResampleFilter;
// Down, up, mixed (one axis up, the other down), one axis unchanged, 1x1, extreme aspect, other filters.
INSTANTIATE_TEST_SUITE_P(Image, ResizeMatchesPil,
                         ::testing::Values(ResizeCase{"bicubic", F::Bicubic, 7, 5},
                                           ResizeCase{"bicubic", F::Bicubic, 50, 40},
                                           ResizeCase{"bicubic", F::Bicubic, 40, 9},
                                           ResizeCase{"bicubic", F::Bicubic, 23, 30},
                                           ResizeCase{"bicubic", F::Bicubic, 11, 17},
                                           ResizeCase{"bicubic", F::Bicubic, 1, 1},
                                           ResizeCase{"bicubic", F::Bicubic, 3, 64},
                                           ResizeCase{"bilinear", F::Bilinear, 9, 31},
                                           ResizeCase{"lanczos", F::Lanczos, 31, 9},
                                           ResizeCase{"box", F::Box, 10, 8},
                                           ResizeCase{"hamming", F::Hamming, 30, 12}),
                         // Stable, readable names (bicubic_7x5) instead of gtest's raw bytes of the struct.
                         [](const ::testing::TestParamInfo<ResizeCase>& info) {
                           return fmt::format("{}_{}x{}", info.param.filter_name, info.param.w, info.param.h);
                         });

TEST(ImageResize, WindowEqualsFullResizeThenCrop) {
  Image src = make_image(37, 29, 7);
  for (auto [w, h] : {std::pair{80, 61}, std::pair{13, 9}, std::pair{37, 50}, std::pair{60, 29}}) {
    Image full = vr::image::resize_bicubic(src, w, h);
    vr::image::Rect win{w / 5, h / 3, w / 2, h / 2};
    EXPECT_TRUE(same_pixels(vr::image::resize_window(src, w, h, F::Bicubic, win), vr::image::crop(full, win)))
        << w << "x" << h;
  }
}

TEST(ImageResize, SameSizeIsACopyAndBadArgumentsThrow) {
  Image src = make_image(9, 4, 3);
  EXPECT_TRUE(same_pixels(vr::image::resize_bicubic(src, 9, 4), src));
  EXPECT_THROW(vr::image::resize_bicubic(src, 0, 4), vr::Error);
  EXPECT_THROW(vr::image::resize_window(src, 9, 4, F::Bicubic, {5, 0, 5, 4}), vr::Error);
  EXPECT_THROW(vr::image::resample_filter_from_pil(0), vr::Error);  // NEAREST
  EXPECT_THROW(vr::image::resample_filter_from_pil(7), vr::Error);
  EXPECT_EQ(vr::image::resample_filter_from_pil(3), F::Bicubic);
}

// ---- expand2square -------------------------------------------------------------------------------

TEST(ImageExpandToSquare, PastesCentredWithFloorOffsets) {
  Image wide = make_image(5, 2, 1);  // side 5, y offset (5 - 2) // 2 = 1
  Image sq = vr::image::expand_to_square(wide, {7, 8, 9});
  ASSERT_EQ(sq.width, 5);
  ASSERT_EQ(sq.height, 5);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) {
        uint8_t exp = (y == 1 || y == 2) ? wide.row(y - 1)[3 * x + c] : uint8_t(7 + c);
        ASSERT_EQ(sq.row(y)[3 * x + c], exp) << x << "," << y;
      }
  Image tall = make_image(1, 4, 2);  // x offset (4 - 1) // 2 = 1
  Image sq2 = vr::image::expand_to_square(tall, {0, 0, 0});
  EXPECT_EQ(sq2.row(3)[3 * 1], tall.row(3)[0]);
  EXPECT_EQ(sq2.row(3)[3 * 2], 0);
  EXPECT_TRUE(same_pixels(vr::image::expand_to_square(sq, {1, 2, 3}), sq));  // square: unchanged
}

}  // namespace

}  // namespace image_image_test
