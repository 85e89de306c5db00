// Image processors against HF transformers 4.44.2:
//  - shared/fixtures/image_preprocessing: 3 images x {CLIP 336, SigLIP 384} x {direct, pad}; the uint8
//    tensors (resize + crop) must match exactly (tolerance class `exact`), the float32 ones bit for bit.
//  - tests/data_files/images: held-out small processors (other sizes, old-style int configs, HxW SigLIP).
#include "vr/image/image_processor.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"

namespace image_image_processor_test {

namespace {

using vr::image::AspectMode;
using vr::image::Image;
using vr::image::ImageProcessor;

std::string data_file(const std::string& name) { return std::string(VR_TEST_DATA_DIR) + "/images/" + name; }
std::string fixture(const std::string& name) { return vr::test::fixtures_dir() + "/image_preprocessing/" + name; }

at::Tensor hwc_tensor(const Image& img) {
  return at::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, 3}, at::kByte).clone();
}

Image image_from_hwc(const at::Tensor& t) {
  Image img;
  img.height = int(t.size(0));
  img.width = int(t.size(1));
  at::Tensor c = t.contiguous();
  img.pixels.assign(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
  return img;
}

// Bitwise equality (also for float32: NaN-free data, so equal() is exact); reports count and max |diff|.
::testing::AssertionResult bit_equal(const at::Tensor& got, const at::Tensor& exp, const std::string& name) {
  if (got.sizes() != exp.sizes())
    return ::testing::AssertionFailure() << name << ": shape " << got.sizes() << " vs " << exp.sizes();
  if (got.scalar_type() != exp.scalar_type())
    return ::testing::AssertionFailure() << name << ": dtype " << got.scalar_type() << " vs " << exp.scalar_type();
  if (at::equal(got, exp)) return ::testing::AssertionSuccess();
  at::Tensor d = (got.to(at::kDouble) - exp.to(at::kDouble)).abs();
  return ::testing::AssertionFailure() << name << ": " << d.ne(0).sum().item<int64_t>()
                                       << " values differ, max |diff| " << d.max().item<double>();
}

const char* kFixtureImages[] = {"rgb_97x61", "gray_40x120", "photo_88x66"};
const char* kFixtureFiles[] = {"rgb_97x61.png", "gray_40x120.png", "photo_88x66.jpg"};

TEST(ImageProcessorFixture, DecodedImagesMatchPil) {
  VR_REQUIRE_FIXTURE("image_preprocessing");
  vr::SafetensorsFile inputs(fixture("inputs.safetensors"));
  for (int i = 0; i < 3; ++i) {
    Image img = vr::image::decode_image_file(fixture(std::string("images/") + kFixtureFiles[i]));
    EXPECT_TRUE(bit_equal(hwc_tensor(img), inputs.tensor(std::string(kFixtureImages[i]) + ".decoded_rgb_uint8"),
                          kFixtureFiles[i]));
  }
}

TEST(ImageProcessorFixture, PadCanvasesUseTruncatedMean) {
  VR_REQUIRE_FIXTURE("image_preprocessing");
  vr::SafetensorsFile inputs(fixture("inputs.safetensors"));
  ImageProcessor clip = ImageProcessor::from_path(fixture("clip_preprocessor_config.json"));
  ImageProcessor siglip = ImageProcessor::from_path(fixture("siglip_preprocessor_config.json"));
  EXPECT_EQ(clip.pad_color(), (std::array<uint8_t, 3>{122, 116, 104}));
  EXPECT_EQ(siglip.pad_color(), (std::array<uint8_t, 3>{127, 127, 127}));
  for (const char* name : kFixtureImages) {
    Image img = image_from_hwc(inputs.tensor(std::string(name) + ".decoded_rgb_uint8"));
    EXPECT_TRUE(bit_equal(hwc_tensor(vr::image::expand_to_square(img, clip.pad_color())),
                          inputs.tensor(std::string(name) + ".pad_canvas.clip_trunc"), name));
    EXPECT_TRUE(bit_equal(hwc_tensor(vr::image::expand_to_square(img, siglip.pad_color())),
                          inputs.tensor(std::string(name) + ".pad_canvas.siglip_trunc"), name));
  }
}

// All 12 uint8 tensors exactly, and the float32 tensors present in the file bit for bit; the processors
// are read from the fixture's preprocessor_config.json files and also built from the defaults.
TEST(ImageProcessorFixture, AllCombinationsExact) {
  VR_REQUIRE_FIXTURE("image_preprocessing");
  vr::SafetensorsFile inputs(fixture("inputs.safetensors"));
  vr::SafetensorsFile expected(fixture("expected.safetensors"));
  struct P {
    const char* name;
    ImageProcessor from_file, from_defaults;
  } procs[] = {{"clip", ImageProcessor::from_path(fixture("clip_preprocessor_config.json")), ImageProcessor::clip()},
               {"siglip", ImageProcessor::from_path(fixture("siglip_preprocessor_config.json")),
                ImageProcessor::siglip()}};
  int n_float = 0;
  for (const char* image : kFixtureImages) {
    Image img = image_from_hwc(inputs.tensor(std::string(image) + ".decoded_rgb_uint8"));
    for (auto& p : procs) {
      for (AspectMode mode : {AspectMode::Square, AspectMode::Pad}) {
        std::string key = fmt::format("{}.{}.{}", image, p.name, mode == AspectMode::Pad ? "pad" : "direct");
        at::Tensor exp_u8 = expected.tensor(key + ".pixel_values_uint8");  // [3, S, S]
        at::Tensor got_u8 = hwc_tensor(p.from_file.resize_and_crop(img, mode)).permute({2, 0, 1});
        EXPECT_TRUE(bit_equal(got_u8, exp_u8, key + ".pixel_values_uint8"));
        at::Tensor got = p.from_file(img, mode);
        EXPECT_TRUE(bit_equal(p.from_defaults(img, mode), got, key + " (defaults vs config file)"));
        if (expected.contains(key + ".pixel_values")) {
          EXPECT_TRUE(bit_equal(got, expected.tensor(key + ".pixel_values"), key + ".pixel_values"));
          ++n_float;
        }
      }
    }
  }
  EXPECT_EQ(n_float, 3);
}

// ---- held-out cases ---------------------------------------------------------------------------------

TEST(ImageProcessor, HeldOutSmallProcessorsMatchHf) {
  int n = 0;
  for (const char* cfg : {"clip", "clipint", "siglip"}) {
    ImageProcessor proc = ImageProcessor::from_path(data_file(std::string("cfg_") + cfg));
    for (const char* image : {"src_noise.png", "src_q420.jpg", "src_gray.jpg"}) {
      Image img = vr::image::decode_image_file(data_file(image));
      for (const char* mode : {"square", "pad"}) {
        std::string stem = image;
        std::replace(stem.begin(), stem.end(), '.', '_');
        Image exp = vr::image::decode_image_file(data_file(fmt::format("proc_{}_{}_{}.png", cfg, mode, stem)));
        Image got = proc.resize_and_crop(img, vr::image::parse_aspect_mode(mode));
        EXPECT_TRUE(bit_equal(hwc_tensor(got), hwc_tensor(exp), fmt::format("{} {} {}", cfg, mode, image)));
        ++n;
      }
    }
  }
  EXPECT_EQ(n, 18);
}

TEST(ImageProcessor, ConfigVariantsAreHonoured) {
  ImageProcessor clipint = ImageProcessor::from_path(data_file("cfg_clipint"));  // directory form
  EXPECT_EQ(clipint.kind(), ImageProcessor::Kind::Clip);
  EXPECT_EQ(clipint.height(), 15);
  EXPECT_EQ(clipint.width(), 15);
  ImageProcessor sig = ImageProcessor::from_path(data_file("cfg_siglip/preprocessor_config.json"));
  EXPECT_EQ(sig.kind(), ImageProcessor::Kind::Siglip);
  EXPECT_EQ(sig.height(), 16);
  EXPECT_EQ(sig.width(), 24);
  at::Tensor blank = sig.blank();
  EXPECT_EQ(blank.sizes(), (at::IntArrayRef{3, 16, 24}));
  EXPECT_EQ(blank.abs().sum().item<float>(), 0.0f);
}

std::string write_config(const std::string& json) {
  std::string dir = vr::test::temp_dir("image_processor");
  std::ofstream(dir + "/preprocessor_config.json") << json;
  return dir;
}

TEST(ImageProcessor, FlagsChangeTheOutput) {
  Image img = vr::image::decode_image_file(data_file("src_noise.png"));
  // No normalize: x = u8 * rescale_factor. No rescale and no normalize: the uint8 levels as floats.
  auto raw = ImageProcessor::from_path(write_config(
      R"({"image_processor_type": "SiglipImageProcessor", "size": {"height": 8, "width": 8},
          "do_normalize": false, "rescale_factor": 0.5})"));
  auto levels = ImageProcessor::from_path(write_config(
      R"({"image_processor_type": "SiglipImageProcessor", "size": {"height": 8, "width": 8},
          "do_normalize": false, "do_rescale": false})"));
  at::Tensor u8 = hwc_tensor(levels.resize_and_crop(img, AspectMode::Square)).permute({2, 0, 1}).to(at::kFloat);
  EXPECT_TRUE(bit_equal(levels(img, AspectMode::Square), u8, "do_rescale=false"));
  EXPECT_TRUE(bit_equal(raw(img, AspectMode::Square), u8 * 0.5, "rescale 0.5"));
  // No resize, no crop: the image passes through at its own size.
  auto none = ImageProcessor::from_path(write_config(
      R"({"image_processor_type": "CLIPImageProcessor", "do_resize": false, "do_center_crop": false})"));
  EXPECT_EQ(none(img, AspectMode::Square).sizes(), (at::IntArrayRef{3, 17, 23}));
  EXPECT_EQ(none(img, AspectMode::Pad).sizes(), (at::IntArrayRef{3, 23, 23}));
  EXPECT_THROW(none.height(), vr::Error);
  // A crop larger than the resized image zero-pads around it (HF center_crop); value 0 -> (0 - mean) / std.
  auto big = ImageProcessor::from_path(write_config(
      R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 4}, "crop_size": 8,
          "do_normalize": false})"));
  Image cropped = big.resize_and_crop(img, AspectMode::Square);  // resized 5x4 -> 8x8 canvas
  ASSERT_EQ(cropped.width, 8);
  EXPECT_EQ(cropped.row(0)[0], 0);
  EXPECT_EQ(cropped.row(7)[3 * 7], 0);
}

TEST(ImageProcessor, BadConfigsGiveClearErrors) {
  auto message = [](const std::string& json) -> std::string {
    try {
      ImageProcessor::from_path(write_config(json));
    } catch (const vr::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message(R"({"image_processor_type": "ViTImageProcessor"})").find("unsupported image_processor_type 'ViTImageProcessor'"),
            std::string::npos);
  EXPECT_NE(message(R"({})").find("unsupported image_processor_type ''"), std::string::npos);
  EXPECT_NE(message(R"({"image_processor_type": "CLIPImageProcessor", "image_mean": [1, 2]})").find("image_mean"),
            std::string::npos);
  EXPECT_NE(message(R"({"image_processor_type": "CLIPImageProcessor", "resample": 0})").find("NEAREST"),
            std::string::npos);
  EXPECT_NE(message("{not json").find("invalid JSON"), std::string::npos);
  EXPECT_NE(message(R"({"image_processor_type": "SiglipImageProcessor", "size": {"shortest_edge": 3}})").find("'size'"),
            std::string::npos);
  EXPECT_THROW(ImageProcessor::from_path("/nonexistent/dir"), vr::Error);
  EXPECT_THROW(vr::image::parse_aspect_mode("crop"), vr::Error);
  EXPECT_EQ(vr::image::parse_aspect_mode("pad"), AspectMode::Pad);
}

}  // namespace

}  // namespace image_image_processor_test
