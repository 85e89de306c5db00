// libFuzzer target for the torch-free header parser: any input must either parse into a header that
// satisfies the format's invariants or throw vr::Error. Any other exception, crash or sanitizer report
// is a bug. Build and run: see docs/core.md ("Fuzzing").
#include <cstdint>
#include <cstdlib>

#include "vr/core/error.h"
#include "vr/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vr::SafetensorsHeader h;
  try {
    h = vr::parse_safetensors_header(data, size, "fuzz.safetensors");
  } catch (const vr::Error&) {
    return 0;
  }
  // Accepted: the entries must tile the data section exactly, each holding numel·size bytes.
  if (h.data_start < 8 || h.data_start > size) std::abort();
  uint64_t cursor = 0;
  for (const auto& e : h.entries) {
    uint64_t bytes = vr::dtype_size(e.dtype);
    for (int64_t d : e.shape) {
      if (d < 0) std::abort();
      bytes *= static_cast<uint64_t>(d);
    }
    if (e.begin != cursor || e.end < e.begin || e.end - e.begin != bytes) std::abort();
    cursor = e.end;
  }
  if (cursor != size - h.data_start) std::abort();
  return 0;
}
