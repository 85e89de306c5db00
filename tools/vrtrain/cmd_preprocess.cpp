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
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_preprocess {  // not anonymous: unity builds put several commands in one translation unit

constexpr const char* kDescription = R"(vrtrain preprocess: turn images into the pixel_values a vision tower sees.

Each IMAGE (PNG, JPEG, GIF first frame, BMP; the format is read from the file's first bytes) is decoded
and converted to RGB as PIL's Image.open(f).convert("RGB") does, then prepared by the image processor:
  --aspect pad     (default) LLaVA's expand2square first: the image is centred on a square canvas filled
                   with int(image_mean * 255) (CLIP: 122,116,104; SigLIP: 127,127,127). LLaVA / Bunny SFT
                   and evaluation use this.
  --aspect square  no padding: CLIP resizes the short side and center-crops; SigLIP squeezes to its size.
Then: Pillow-exact bicubic resize, center crop (CLIP), x / 255, (x - mean) / std, HWC -> CHW.
The output equals transformers' CLIPImageProcessor / SiglipImageProcessor bit for bit.)";

constexpr const char* kFooter = R"(Example:
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
  int64_t threads = 1;
  std::vector<std::string> images;
  CLI::App app = vr::cli::make_app("preprocess", kDescription, kFooter);
  vr::cli::set_usage(app,
                     "vrtrain preprocess --processor PATH [--aspect pad|square] [--threads N] --output OUT.safetensors "
                     "IMAGE...");
  app.add_option("--processor", processor_path,
                 "a preprocessor_config.json, or a model directory holding one\n"
                 "(CLIPImageProcessor / CLIPFeatureExtractor / SiglipImageProcessor). The names\n"
                 "'clip' (openai/clip-vit-large-patch14-336) and 'siglip' (google/siglip-so400m-patch14-384)\n"
                 "select the published defaults when no such path exists.")
      ->type_name("PATH")
      ->required();
  app.add_option("--aspect", aspect, "pad | square (default pad)")->type_name("MODE");
  vr::cli::add_int_option(app, "--threads", threads, "decode and preprocess with N threads (default 1)");
  app.add_option("-o,--output", output,
                 "safetensors file to write; tensor 'pixel_values' [N, 3, H, W] float32 in argument\n"
                 "order; metadata records the processor and the aspect mode")
      ->type_name("FILE")
      ->required();
  app.add_option("images", images, "image files, in the order of the output rows")->type_name("IMAGE");
  if (auto code = vr::cli::parse(app, args)) return *code;
  if (threads < 1 || threads > 256)
    return vr::cli::usage_error(app, "--threads must be an integer in 1..256, got " + std::to_string(threads));
  if (images.empty()) return vr::cli::usage_error(app, "no images given");
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

vr::cli::Registration registration_preprocess{"preprocess", "Images -> pixel_values (HF CLIP/SigLIP processors, bit-exact)",
                          &run_preprocess};

}  // namespace cmd_preprocess
