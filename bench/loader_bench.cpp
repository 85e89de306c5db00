// Data pipeline benchmarks (not run by ctest; results in docs/benchmarks.md).
//
//   loader_bench loader TOKENIZER_DIR [batches=40] [batch_size=8] [image_size=336]
//       DataLoader throughput on synthetic-shapes (vicuna_v1 template, CLIP-336 processor, pad aspect) with
//       1 and 2 worker threads: samples/s, images/s, tokens/s (non-pad tokens).
//   loader_bench json DIR TOKENIZER_DIR [batch_size=8] [repeat=2]
//       DataLoader over DIR/dataset.json (images in DIR, written by bench/loader_bench_reference.py make) with
//       the CLIP-336 processor, pad aspect, vicuna_v1 template: the same work as the Python reference
//       (bench/loader_bench_reference.py hf) on the same files.
//   loader_bench index FILE.json [records=665298]
//       Writes a LLaVA-665K-sized JSON list (records shaped like llava_v1_5_mix665k) if FILE does not exist,
//       then times JsonDataset's streaming index pass and reports the process's peak RSS.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "vr/data/json_dataset.h"
#include "vr/data/loader.h"
#include "vr/data/synthetic_shapes.h"

using Clock = std::chrono::steady_clock;
using namespace vr::data; using namespace vr::text; using namespace vr::image;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static long peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;  // KiB on Linux
}

static int bench_loader(const std::string& tokenizer, int64_t batches, int64_t batch_size, int image_size) {
  auto tok = Tokenizer::from_path(tokenizer);
  DatasetOptions dopt;
  dopt.path = kSyntheticShapesName;
  dopt.synthetic_samples = batches * batch_size;
  dopt.synthetic_image_size = image_size;
  auto ds = open_dataset(dopt);
  std::printf("synthetic-shapes %lld samples of %dx%d, batch %lld, vicuna_v1, CLIP-336 pad\n",
              static_cast<long long>(ds->size()), image_size, image_size, static_cast<long long>(batch_size));
  for (int64_t workers : {1, 2}) {
    LoaderOptions opt;
    opt.batch_size = batch_size;
    opt.num_workers = workers;
    DataLoader loader(ds, tok, ImageProcessor::clip(336), AspectMode::Pad, "vicuna_v1", opt);
    int64_t samples = 0, images = 0, tokens = 0;
    auto t0 = Clock::now();
    while (auto b = loader.next()) {
      samples += b->input_ids.size(0);
      images += b->pixel_values.defined() ? b->pixel_values.size(0) : 0;
      tokens += b->num_text_tokens;
    }
    double s = seconds_since(t0);
    std::printf("workers %lld: %.1f samples/s, %.1f images/s, %.0f tokens/s (%lld batches in %.2f s)\n",
                static_cast<long long>(workers), samples / s, images / s, tokens / s,
                static_cast<long long>(loader.batches_per_epoch()), s);
  }
  return 0;
}

static int bench_json(const std::string& dir, const std::string& tokenizer, int64_t batch_size, int repeat) {
  auto tok = Tokenizer::from_path(tokenizer);
  DatasetOptions dopt;
  dopt.path = dir + "/dataset.json";
  dopt.image_folder = dir;
  auto ds = open_dataset(dopt);
  std::printf("%s: %lld samples, batch %lld, vicuna_v1, CLIP-336 pad, %d passes\n", dopt.path.c_str(),
              static_cast<long long>(ds->size()), static_cast<long long>(batch_size), repeat);
  for (int64_t workers : {1, 2}) {
    LoaderOptions opt;
    opt.batch_size = batch_size;
    opt.num_workers = workers;
    opt.model_max_length = 2048;
    int64_t samples = 0, images = 0, tokens = 0;
    double s = 0;
    for (int pass = -1; pass < repeat; ++pass) {  // pass -1: warm-up (page cache), not timed
      DataLoader loader(ds, tok, ImageProcessor::clip(336), AspectMode::Pad, "vicuna_v1", opt);
      auto t0 = Clock::now();
      while (auto b = loader.next()) {
        if (pass < 0) continue;
        samples += b->input_ids.size(0);
        images += b->pixel_values.defined() ? b->pixel_values.size(0) : 0;
        tokens += b->num_text_tokens;
      }
      if (pass >= 0) s += seconds_since(t0);
    }
    std::printf("workers %lld: %.1f samples/s, %.1f images/s, %.0f tokens/s (%lld samples in %.2f s)\n",
                static_cast<long long>(workers), samples / s, images / s, tokens / s,
                static_cast<long long>(samples), s);
  }
  return 0;
}

static void write_llava_like_json(const std::string& path, int64_t records) {
  std::ofstream out(path);
  out << "[\n";
  for (int64_t i = 0; i < records; ++i) {
    // ~1.5 KB per record like llava_v1_5_mix665k.json (1.03 GB / 665,298); every 16th record text-only.
    bool image = i % 16 != 0;
    out << (i ? ",\n" : "") << "  {\n    \"id\": \"" << 100000000 + i << "\",\n";
    if (image) out << "    \"image\": \"coco/train2017/" << 100000000 + i << ".jpg\",\n";
    out << "    \"conversations\": [\n";
    for (int t = 0; t < 4; ++t) {
      out << "      {\n        \"from\": \"" << (t % 2 ? "gpt" : "human") << "\",\n        \"value\": \""
          << (t == 0 && image ? "<image>\\n" : "")
          << "What is the man in the picture doing with the red umbrella near the \\\"old\\\" station? "
             "Describe the scene in detail, including colours, positions and any text that is visible. "
             "Answer the question using a single word or phrase where possible, otherwise a sentence."
          << "\"\n      }" << (t < 3 ? "," : "") << "\n";
    }
    out << "    ]\n  }";
  }
  out << "\n]\n";
}

static int bench_index(const std::string& path, int64_t records) {
  if (!std::filesystem::exists(path)) {
    auto t0 = Clock::now();
    write_llava_like_json(path, records);
    std::printf("wrote %s in %.1f s\n", path.c_str(), seconds_since(t0));
  }
  const double mb = std::filesystem::file_size(path) / 1e6;
  long rss_before = peak_rss_mb();
  auto t0 = Clock::now();
  JsonDataset ds(path, "images");
  double s = seconds_since(t0);
  std::printf("indexed %lld records (%.0f MB) in %.2f s (%.0f MB/s); peak RSS %ld MB (before: %ld MB)\n",
              static_cast<long long>(ds.size()), mb, s, mb / s, peak_rss_mb(), rss_before);
  auto t1 = Clock::now();
  int64_t n = std::min<int64_t>(ds.size(), 10000);
  for (int64_t i = 0; i < n; ++i) (void)ds.get((i * 7919) % ds.size());
  std::printf("random access: %.1f us per record (parse + validate)\n", seconds_since(t1) / n * 1e6);
  return 0;
}

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "loader" && argc >= 3)
    return bench_loader(argv[2], argc > 3 ? std::stoll(argv[3]) : 40, argc > 4 ? std::stoll(argv[4]) : 8,
                        argc > 5 ? std::stoi(argv[5]) : 336);
  if (mode == "json" && argc >= 4)
    return bench_json(argv[2], argv[3], argc > 4 ? std::stoll(argv[4]) : 8, argc > 5 ? std::stoi(argv[5]) : 2);
  if (mode == "index" && argc >= 3) return bench_index(argv[2], argc > 3 ? std::stoll(argv[3]) : 665298);
  std::fprintf(stderr, "usage: loader_bench loader TOKENIZER_DIR [batches] [batch_size] [image_size]\n"
                       "       loader_bench json DIR TOKENIZER_DIR [batch_size] [repeat]\n"
                       "       loader_bench index FILE.json [records]\n");
  return 2;
}
