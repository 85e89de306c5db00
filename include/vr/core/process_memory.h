// Memory of this process as the OS counts it (Linux /proc): the CPU counterpart of the CUDA allocator's
// statistics in torch_compat.h.
#pragma once
#include <cstdint>

namespace vr {

// Peak resident set size since the process started (VmHWM), in bytes.
int64_t peak_rss_bytes();
// Resets the peak (VmHWM) to the current resident set size (Linux >= 4.0: "5" to /proc/self/clear_refs), so a
// later peak_rss_bytes() measures one phase. Returns false where the kernel does not allow it.
bool reset_peak_rss();
// Resident set size now (/proc/self/statm), in bytes.
int64_t current_rss_bytes();

}  // namespace vr
