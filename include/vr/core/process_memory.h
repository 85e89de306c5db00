// Memory of this process as the OS counts it (Linux /proc): the CPU counterpart of the CUDA allocator's
// statistics in torch_compat.h.
#pragma once
#include <cstdint>

namespace vr {

// Peak resident set size since the process started (VmHWM), in bytes.
int64_t peak_rss_bytes();
// Resident set size now (/proc/self/statm), in bytes.
int64_t current_rss_bytes();

}  // namespace vr
