// libFuzzer target for the LLaVA-style dataset reader: the input becomes a .json (or, by its first byte, a
// .jsonl) file; JsonDataset indexes it and every record is read and validated. Only vr::Error may escape
// (a malformed record is an error naming the file and record, never a crash), and ASan must stay quiet.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vr/core/error.h"
#include "vr/data/json_dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/vr_json_fuzz_XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (!d) std::abort();
    return std::string(d);
  }();
  const bool jsonl = size > 0 && (data[0] & 1);
  const std::string path = dir + (jsonl ? "/d.jsonl" : "/d.json");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 1) std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  try {
    vr::data::JsonDataset ds(path, dir);
    for (int64_t i = 0; i < ds.size(); ++i) {
      try {
        (void)ds.get(i);
        (void)ds.modality_length(i);
      } catch (const vr::Error&) {
      }
    }
  } catch (const vr::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}
