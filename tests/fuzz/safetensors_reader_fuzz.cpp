// libFuzzer target for the whole reader (mmap, LibTorch views, BOOL checks): the input becomes a file in
// memory (memfd, opened through /proc/self/fd), is opened with SafetensorsFile and every tensor is read.
// Only vr::Error may escape. LibTorch itself is not instrumented; our code is (ASan + coverage).
#include <cstdint>
#include <cstdlib>
#include <string>

#include <ATen/ATen.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vr/core/error.h"
#include "vr/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  for (size_t off = 0; off < size;) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0) std::abort();
    off += static_cast<size_t>(w);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    vr::SafetensorsFile file(path);
    for (const auto& e : file.entries()) {
      at::Tensor t = file.tensor(e.name);
      if (t.sizes().vec() != e.shape) std::abort();
      if (t.numel() > 0) {
        // touch every byte through LibTorch (ASan checks our pointer arithmetic via the memcpy paths)
        volatile double s = t.to(at::kDouble).sum().item<double>();
        (void)s;
      }
    }
  } catch (const vr::Error&) {
  }
  close(fd);
  return 0;
}
