// Images/s of decode + preprocess (file -> float32 [3, H, W]), the per-sample image work of the data loader.
//
//   python3 bench/image_bench_reference.py make /tmp/vr_image_bench        # the test images (once)
//   build/bench/image_bench /tmp/vr_image_bench --processor clip --aspect pad --threads 1
//
// Options: --processor clip|siglip|PATH (default clip = CLIP ViT-L/14-336), --aspect pad|square (default pad),
// --threads N (default 1), --repeat R (default 3). Every image of DIR is processed R times after one warm-up
// pass; N threads share the images. Also prints the split: decode only, and preprocess of decoded images.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

#include "vr/core/error.h"
#include "vr/image/image.h"
#include "vr/image/image_processor.h"

namespace {

using Clock = std::chrono::steady_clock;

// Runs fn(i) for i in [0, n) on `threads` threads; returns seconds.
template <class Fn>
double timed_parallel(int64_t n, int threads, Fn fn) {
  std::atomic<int64_t> next{0};
  auto work = [&]() {
    for (int64_t i; (i = next++) < n;) fn(i);
  };
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int run(int argc, char** argv) {
  std::string dir, processor = "clip", aspect = "pad";
  int threads = 1, repeat = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      VR_CHECK(i + 1 < argc, "{} needs a value", a);
      return argv[++i];
    };
    if (a == "--processor") processor = value();
    else if (a == "--aspect") aspect = value();
    else if (a == "--threads") threads = std::stoi(value());
    else if (a == "--repeat") repeat = std::stoi(value());
    else if (a == "--help") {
      std::puts("image_bench DIR [--processor clip|siglip|PATH] [--aspect pad|square] [--threads N] [--repeat R]");
      return 0;
    } else dir = a;
  }
  VR_CHECK(!dir.empty(), "usage: image_bench DIR [options] (see --help)");
  at::set_num_threads(1);  // the parallelism here is across images, as in the data loader
  auto proc = processor == "clip"     ? vr::image::ImageProcessor::clip()
              : processor == "siglip" ? vr::image::ImageProcessor::siglip()
                                      : vr::image::ImageProcessor::from_path(processor);
  auto mode = vr::image::parse_aspect_mode(aspect);
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file()) paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  VR_CHECK(!paths.empty(), "{}: no images", dir);
  const int64_t n = static_cast<int64_t>(paths.size());
  const size_t per_image = size_t(3) * proc.height() * proc.width();
  std::vector<std::vector<float>> out(threads, std::vector<float>(per_image));
  thread_local int slot = -1;
  std::atomic<int> slots{0};
  auto out_buffer = [&]() -> float* {
    if (slot < 0) slot = slots++;
    return out[slot % threads].data();
  };

  auto full = [&](int64_t i) { proc.process_into(vr::image::decode_image_file(paths[i % n]), mode, out_buffer()); };
  timed_parallel(n, threads, full);  // warm-up: page cache, allocator, decoder handles
  double t_full = timed_parallel(n * repeat, threads, full);

  std::vector<vr::image::Image> decoded(n);
  double t_decode = timed_parallel(n, threads, [&](int64_t i) { decoded[i] = vr::image::decode_image_file(paths[i]); });
  double t_proc = timed_parallel(n * repeat, threads, [&](int64_t i) { proc.process_into(decoded[i % n], mode, out_buffer()); });

  std::printf("vrtrain %s aspect=%s threads=%d: %lld images in %.3f s = %.1f images/s "
              "(decode only %.1f images/s, preprocess only %.1f images/s)\n",
              processor.c_str(), aspect.c_str(), threads, static_cast<long long>(n * repeat), t_full,
              n * repeat / t_full, n / t_decode, n * repeat / t_proc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  return run(argc, argv);
} catch (const std::exception& e) {
  std::fprintf(stderr, "image_bench: error: %s\n", e.what());
  return 1;
}
