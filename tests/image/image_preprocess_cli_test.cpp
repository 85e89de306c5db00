// End to end: the real `vrtrain preprocess` binary on the fixture images, compared with transformers'
// float32 pixel_values (tolerance class `exact`: bit for bit).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"

namespace image_image_preprocess_cli_test {

namespace {

std::string fixture(const std::string& name) { return vr::test::fixtures_dir() + "/image_preprocessing/" + name; }

// Runs vrtrain with `args`; returns the exit code, stdout+stderr in *output.
int run_vrtrain(const std::string& args, std::string* output) {
  std::string log = vr::test::temp_dir("preprocess_cli") + "/log.txt";
  int rc = std::system(fmt::format("'{}' {} > '{}' 2>&1", VRTRAIN_BIN, args, log).c_str());
  std::stringstream ss(vr::read_file(log));
  *output = ss.str();
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The README's formula, applied to the expected uint8 tensor [3, S, S]:
// float32(double(u8) * rescale_factor), then (x - mean) / std in float32.
at::Tensor normalize_reference(const at::Tensor& u8, std::array<float, 3> mean, std::array<float, 3> stdv) {
  at::Tensor x = (u8.to(at::kDouble) * 0.00392156862745098).to(at::kFloat);
  at::Tensor m = at::tensor({mean[0], mean[1], mean[2]}, at::kFloat).view({3, 1, 1});
  at::Tensor s = at::tensor({stdv[0], stdv[1], stdv[2]}, at::kFloat).view({3, 1, 1});
  return (x - m) / s;
}

TEST(PreprocessCli, MatchesTransformersBitForBit) {
  VR_REQUIRE_FIXTURE("image_preprocessing");
  vr::SafetensorsFile expected(fixture("expected.safetensors"));
  std::string dir = vr::test::temp_dir("preprocess_cli");
  std::string out;
  const std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
  const std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

  // CLIP, no padding ("direct"), two images in one batch.
  ASSERT_EQ(run_vrtrain(fmt::format("preprocess --processor '{}' --aspect square --output '{}/clip.safetensors' '{}' '{}'",
                                    fixture("clip_preprocessor_config.json"), dir, fixture("images/rgb_97x61.png"),
                                    fixture("images/gray_40x120.png")),
                        &out),
            0)
      << out;
  at::Tensor clip = vr::load_safetensors(dir + "/clip.safetensors").at("pixel_values");
  ASSERT_EQ(clip.sizes(), (at::IntArrayRef{2, 3, 336, 336}));
  EXPECT_TRUE(at::equal(clip[0], expected.tensor("rgb_97x61.clip.direct.pixel_values")));
  EXPECT_TRUE(at::equal(clip[1], normalize_reference(expected.tensor("gray_40x120.clip.direct.pixel_values_uint8"),
                                                     kClipMean, kClipStd)));

  // SigLIP with LLaVA padding (the default aspect), two threads, a processor directory given by its file.
  ASSERT_EQ(run_vrtrain(fmt::format("preprocess --processor '{}' --threads 2 --output '{}/siglip.safetensors' '{}' '{}' '{}'",
                                    fixture("siglip_preprocessor_config.json"), dir, fixture("images/gray_40x120.png"),
                                    fixture("images/photo_88x66.jpg"), fixture("images/rgb_97x61.png")),
                        &out),
            0)
      << out;
  at::Tensor sig = vr::load_safetensors(dir + "/siglip.safetensors").at("pixel_values");
  ASSERT_EQ(sig.sizes(), (at::IntArrayRef{3, 3, 384, 384}));
  EXPECT_TRUE(at::equal(sig[0], expected.tensor("gray_40x120.siglip.pad.pixel_values")));
  EXPECT_TRUE(at::equal(sig[1], normalize_reference(expected.tensor("photo_88x66.siglip.pad.pixel_values_uint8"),
                                                    {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f})));
  EXPECT_TRUE(at::equal(sig[2], normalize_reference(expected.tensor("rgb_97x61.siglip.pad.pixel_values_uint8"),
                                                    {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f})));

  // The built-in 'siglip' defaults give the same bytes as the config file.
  ASSERT_EQ(run_vrtrain(fmt::format("preprocess --processor siglip --aspect square --output '{}/s2.safetensors' '{}'",
                                    dir, fixture("images/photo_88x66.jpg")),
                        &out),
            0)
      << out;
  at::Tensor s2 = vr::load_safetensors(dir + "/s2.safetensors").at("pixel_values");
  EXPECT_TRUE(at::equal(s2[0], expected.tensor("photo_88x66.siglip.direct.pixel_values")));
}

TEST(PreprocessCli, HelpAndErrors) {
  std::string out;
  EXPECT_EQ(run_vrtrain("preprocess --help", &out), 0);
  EXPECT_NE(out.find("--aspect pad"), std::string::npos) << out;
  EXPECT_NE(out.find("expand2square"), std::string::npos) << out;

  std::string dir = vr::test::temp_dir("preprocess_cli");
  std::ofstream(dir + "/broken.jpg") << "\xFF\xD8\xFF garbage";
  EXPECT_EQ(run_vrtrain(fmt::format("preprocess --processor clip --output '{}/x.safetensors' '{}/broken.jpg'", dir, dir),
                        &out),
            1);
  EXPECT_NE(out.find("broken.jpg"), std::string::npos) << out;
  EXPECT_NE(run_vrtrain(fmt::format("preprocess --processor clip --aspect stretch --output '{}/x.safetensors' a.png", dir),
                        &out),
            0);
  EXPECT_NE(out.find("stretch"), std::string::npos) << out;
  EXPECT_NE(run_vrtrain("preprocess --processor clip", &out), 0);
  EXPECT_NE(out.find("--output is required"), std::string::npos) << out;
}

}  // namespace

}  // namespace image_image_preprocess_cli_test
