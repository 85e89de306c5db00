// Hostile input: corrupt, truncated and random-byte images behind valid PNG / JPEG / GIF / BMP magic bytes
// must give a vr::Error (or, for harmless damage, an image of the declared size), never a crash or a hang.
// Deterministic (fixed seeds); ~3,000 decodes. Run under an ASan build too (see docs/images.md).
#include <fstream>
#include <iterator>
#include <random>

#include <gtest/gtest.h>

#include "vr/core/file_io.h"
#include "vr/core/error.h"
#include "vr/image/image.h"

namespace image_image_robustness_test {

namespace {

std::vector<uint8_t> read_bytes(const std::string& name) {
  const std::string bytes = vr::read_file(std::string(VR_TEST_DATA_DIR) + "/images/" + name);
  return {bytes.begin(), bytes.end()};
}

// Decodes; returns true for an image, false for vr::Error. Any other exception fails the test.
bool try_decode(const std::vector<uint8_t>& bytes, const std::string& what) {
  try {
    vr::image::Image img = vr::image::decode_image(bytes.data(), bytes.size(), what, /*max_pixels=*/1 << 22);
    EXPECT_GT(img.width, 0) << what;
    EXPECT_EQ(img.pixels.size(), size_t(img.width) * img.height * 3) << what;
    return true;
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << "error does not name the source: " << e.what();
    return false;
  }
}

const char* kSeeds[] = {"src_q420.jpg", "src_prog.jpg", "src_cmyk.jpg", "src_gray.jpg", "src_noise.png",
                        "src_palette.png", "src_gray16.png", "src_palette.gif", "src_rgb24.bmp"};

TEST(ImageRobustness, TruncatedFilesAtEveryLength) {
  int errors = 0;
  for (const char* name : kSeeds) {
    std::vector<uint8_t> full = read_bytes(name);
    ASSERT_FALSE(full.empty()) << name;
    size_t step = std::max<size_t>(1, full.size() / 97);
    for (size_t n = 0; n < full.size(); n += step) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + n);
      errors += !try_decode(cut, fmt::format("{}[:{}]", name, n));
    }
  }
  EXPECT_GT(errors, 500);  // nearly every prefix is rejected (GIF/BMP decoders may pad a few)
}

TEST(ImageRobustness, RandomByteFlipsAndSplices) {
  std::mt19937 rng(20240917);
  for (const char* name : kSeeds) {
    std::vector<uint8_t> orig = read_bytes(name);
    for (int trial = 0; trial < 150; ++trial) {
      std::vector<uint8_t> b = orig;
      int kind = trial % 3;
      if (kind == 0) {  // flip 1..8 random bytes anywhere after the magic
        for (int k = 0, n = 1 + int(rng() % 8); k < n; ++k) b[8 + rng() % (b.size() - 8)] = uint8_t(rng());
      } else if (kind == 1) {  // overwrite a run with garbage
        size_t at = 8 + rng() % (b.size() - 8), len = std::min<size_t>(b.size() - at, 1 + rng() % 64);
        for (size_t k = 0; k < len; ++k) b[at + k] = uint8_t(rng());
      } else {  // corrupt the header region (dimensions, bit depths, table sizes)
        for (int k = 0; k < 4; ++k) b[2 + rng() % std::min<size_t>(b.size() - 2, 40)] = uint8_t(rng());
      }
      try_decode(b, fmt::format("{}#{}", name, trial));
    }
  }
}

TEST(ImageRobustness, MagicBytesFollowedByGarbage) {
  std::mt19937 rng(7);
  const std::vector<std::vector<uint8_t>> magics = {
      {0xFF, 0xD8, 0xFF}, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, {'G', 'I', 'F', '8', '9', 'a'},
      {'G', 'I', 'F', '8', '7', 'a'}, {'B', 'M'}};
  int decoded = 0;
  for (size_t m = 0; m < magics.size(); ++m) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<uint8_t> b = magics[m];
      size_t n = rng() % 300;
      for (size_t k = 0; k < n; ++k) b.push_back(uint8_t(rng()));
      decoded += try_decode(b, fmt::format("garbage{}#{}", m, trial));
    }
  }
  // Random bytes rarely form a valid image; a handful of tiny BMP/GIF headers can.
  EXPECT_LT(decoded, 100);
}

TEST(ImageRobustness, HugeDeclaredSizesAreRejectedBeforeAllocation) {
  // A 1-pixel PNG whose IHDR claims 60000 x 60000: rejected by the pixel limit from the header alone.
  std::vector<uint8_t> png = read_bytes("src_noise.png");
  for (int k = 16; k < 24; ++k) png[k] = 0;
  png[18] = png[22] = 0xEA, png[19] = png[23] = 0x60;  // 60000 = 0xEA60
  EXPECT_FALSE(try_decode(png, "huge.png"));
  // A JPEG whose SOF claims 65000 x 65000.
  std::vector<uint8_t> jpg = read_bytes("src_q420.jpg");
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {  // SOF0: FF C0, len(2), precision(1), height(2), width(2)
      jpg[i + 5] = jpg[i + 7] = 0xFD;
      jpg[i + 6] = jpg[i + 8] = 0xE8;
      break;
    }
  }
  EXPECT_FALSE(try_decode(jpg, "huge.jpg"));
}

}  // namespace

}  // namespace image_image_robustness_test
