// vrtrain preprocess: images -> pixel_values [N, 3, H, W] float32 in a safetensors file, exactly as the
// Hugging Face processor (after LLaVA's pad-to-square, by default) would produce them.
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/image/image.h"
#include "vr/image/image_processor.h"
#include "vrtrain/command.h"

namespace {

constexpr const char* kHelp = R"(vrtrain preprocess: turn images into the pixel_values a vision tower sees.

Usage:
  vrtrain preprocess --processor PATH [--aspect pad|square] [--threads N] --output OUT.safetensors IMAGE...

Each IMAGE (PNG, JPEG, GIF first frame, BMP; the format is read from the file's first bytes) is decoded
and converted to RGB as PIL's Image.open(f).convert("RGB") does, then prepared by the image processor:
  --aspect pad     (default) LLaVA's expand2square first: the image is centred on a square canvas filled
                   with int(image_mean * 255) (CLIP: 122,116,104; SigLIP: 127,127,127). LLaVA / Bunny SFT
                   and evaluation use this.
  --aspect square  no padding: CLIP resizes the short side and center-crops; SigLIP squeezes to its size.
Then: Pillow-exact bicubic resize, center crop (CLIP), x / 255, (x - mean) / std, HWC -> CHW.
The output equals transformers' CLIPImageProcessor / SiglipImageProcessor bit for bit.

Options:
  --processor PATH   a preprocessor_config.json, or a model directory holding one
                     (CLIPImageProcessor / CLIPFeatureExtractor / SiglipImageProcessor). The names
                     'clip' (openai/clip-vit-large-patch14-336) and 'siglip' (google/siglip-so400m-patch14-384)
                     select the published defaults when no such path exists.
  --aspect MODE      pad | square (default pad)
  --threads N        decode and preprocess with N threads (default 1)
  --output FILE      safetensors file to write; tensor 'pixel_values' [N, 3, H, W] float32 in argument
                     order; metadata records the processor and the aspect mode

Example:
  vrtrain preprocess --processor checkpoints/llava-v1.5-7b --aspect pad --output px.safetensors a.jpg b.png
)";

vr::image::ImageProcessor load_processor(const std::string& spec) {
  if (!std::filesystem::exists(spec)) {
    if (spec == "clip") return vr::image::ImageProcessor::clip();
    if (spec == "siglip") return vr::image::ImageProcessor::siglip();
  }
  return vr::image::ImageProcessor::from_path(spec);
}

int run_preprocess(const std::vector<std::string>& args) {
  std::string processor_path, output, aspect = "pad";
  int threads = 1;
  std::vector<std::string> images;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      VR_CHECK(i + 1 < args.size(), "option {} needs a value (see `vrtrain preprocess --help`)", a);
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    } else if (a == "--processor") {
      processor_path = value();
    } else if (a == "--aspect") {
      aspect = value();
    } else if (a == "--output" || a == "-o") {
      output = value();
    } else if (a == "--threads") {
      const std::string& v = value();
      try {
        threads = std::stoi(v);
      } catch (const std::exception&) {
        threads = 0;
      }
      VR_CHECK(threads >= 1 && threads <= 256, "--threads must be an integer in 1..256, got '{}'", v);
    } else if (a.rfind("--", 0) == 0) {
      VR_FAIL("unknown option '{}' (see `vrtrain preprocess --help`)", a);
    } else {
      images.push_back(a);
    }
  }
  VR_CHECK(!processor_path.empty(), "--processor is required (see `vrtrain preprocess --help`)");
  VR_CHECK(!output.empty(), "--output is required (see `vrtrain preprocess --help`)");
  VR_CHECK(!images.empty(), "no images given (see `vrtrain preprocess --help`)");
  vr::image::AspectMode mode = vr::image::parse_aspect_mode(aspect);
  vr::image::ImageProcessor proc = load_processor(processor_path);
  const int64_t n = static_cast<int64_t>(images.size());
  at::Tensor pixel_values = at::empty({n, 3, proc.height(), proc.width()}, at::kFloat);
  float* base = pixel_values.data_ptr<float>();
  const int64_t per_image = 3 * static_cast<int64_t>(proc.height()) * proc.width();

  // Workers take the next image index; the first error (in any worker) is reported.
  std::atomic<int64_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr first_error;
  auto work = [&]() {
    for (int64_t i; (i = next++) < n;) {
      try {
        vr::image::Image img = vr::image::decode_image_file(images[i]);
        try {
          proc.process_into(img, mode, base + i * per_image);
        } catch (...) {
          vr::rethrow_with_context(images[i]);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        next = n;  // stop the other workers early
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int64_t>(threads, n); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);

  vr::save_safetensors(output, {{"pixel_values", pixel_values}},
                       {{"format", "pt"}, {"processor", proc.describe()}, {"aspect", aspect}});
  std::printf("wrote %s: pixel_values [%lld, 3, %d, %d] float32 (%s, aspect %s)\n", output.c_str(),
              static_cast<long long>(n), proc.height(), proc.width(),
              proc.kind() == vr::image::ImageProcessor::Kind::Clip ? "CLIP" : "SigLIP", aspect.c_str());
  return 0;
}

vr::cli::Registration reg{"preprocess", "Images -> pixel_values (HF CLIP/SigLIP processors, bit-exact)",
                          &run_preprocess};

}  // namespace
