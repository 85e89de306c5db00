// Tokenizer throughput: tokens/s of vr::text::Tokenizer on one text, as one document and line by line.
// Compare with Hugging Face `tokenizers` via bench/tokenizer_bench_hf.py (same text, same measurements).
//
//   build/bench/tokenizer_bench --tokenizer DIR_OR_JSON [--text bench/data/mixed_20k.txt] [--repeat 50]
//
// Reports the median over `repeat` runs (the first run, with a cold word cache, is reported separately), in
// thread CPU time.
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "vr/core/file_io.h"
#include "vr/text/tokenizer.h"

namespace {

// CPU time of this thread: on a shared machine wall time mostly measures the other processes.
double now_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, text_path = "bench/data/mixed_20k.txt";
  int repeat = 50;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tokenizer" && i + 1 < argc) tokenizer_path = argv[++i];
    else if (a == "--text" && i + 1 < argc) text_path = argv[++i];
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: tokenizer_bench --tokenizer PATH [--text FILE] [--repeat N]\n");
      return 2;
    }
  }
  if (tokenizer_path.empty()) {
    std::fprintf(stderr, "usage: tokenizer_bench --tokenizer PATH [--text FILE] [--repeat N]\n");
    return 2;
  }
  const std::string text = vr::read_file(text_path);
  std::vector<std::string> lines;
  for (size_t b = 0; b < text.size();) {
    size_t e = text.find('\n', b);
    e = e == std::string::npos ? text.size() : e + 1;
    lines.push_back(text.substr(b, e - b));
    b = e;
  }

  double t0 = now_s();
  auto tok = vr::text::Tokenizer::from_path(tokenizer_path);
  double load_s = now_s() - t0;

  t0 = now_s();
  auto ids = tok.encode(text, false);
  double cold_s = now_s() - t0;
  std::vector<double> doc_s, lines_s, decode_s;
  size_t line_tokens = 0;
  std::string decoded;
  for (int r = 0; r < repeat; ++r) {
    t0 = now_s();
    ids = tok.encode(text, false);
    doc_s.push_back(now_s() - t0);
    t0 = now_s();
    line_tokens = 0;
    for (const auto& l : lines) line_tokens += tok.encode(l, false).size();
    lines_s.push_back(now_s() - t0);
    t0 = now_s();
    decoded = tok.decode(ids);
    decode_s.push_back(now_s() - t0);
  }
  uint64_t checksum = 0;
  for (size_t i = 0; i < ids.size(); ++i) checksum = checksum * 1000003u + static_cast<uint64_t>(ids[i]);
  std::printf("vrtrain     %s\n", tokenizer_path.c_str());
  std::printf("  text      %zu bytes, %zu lines; %zu tokens as one document (checksum %016llx), %zu line by line\n",
              text.size(), lines.size(), ids.size(), static_cast<unsigned long long>(checksum), line_tokens);
  std::printf("  load      %.3f s\n", load_s);
  std::printf("  doc cold  %.3f ms  %.2f M tokens/s\n", cold_s * 1e3, ids.size() / cold_s / 1e6);
  std::printf("  doc       %.3f ms  %.2f M tokens/s  (median of %d)\n", median(doc_s) * 1e3,
              ids.size() / median(doc_s) / 1e6, repeat);
  std::printf("  lines     %.3f ms  %.2f M tokens/s  (%zu calls)\n", median(lines_s) * 1e3,
              line_tokens / median(lines_s) / 1e6, lines.size());
  std::printf("  decode    %.3f ms  %.2f M tokens/s  (round trip %s)\n", median(decode_s) * 1e3,
              ids.size() / median(decode_s) / 1e6, decoded == text ? "exact" : "differs");
  return 0;
}
