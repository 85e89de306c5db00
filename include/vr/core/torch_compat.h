// The few LibTorch calls that differ between Debian's LibTorch 1.13 (CPU) and LibTorch 2.x (CUDA) live here,
// behind plain functions, so the rest of the code is version-free. Tested in tests/core/torch_compat_test.cpp.
#pragma once
#include <cstdint>
#include <string>

namespace vr::compat {

// "1.13.0" / "2.11.0": the LibTorch the binary was built against.
std::string torch_version();
// True when built against a CUDA-enabled LibTorch (VR_WITH_CUDA) and a device is visible at run time.
bool cuda_available();
// Peak bytes held by the CUDA caching allocator on `device` since the last reset; 0 without CUDA.
int64_t cuda_peak_allocated_bytes(int device = 0);
void cuda_reset_peak_stats(int device = 0);
void cuda_synchronize(int device = 0);
// Disables TF32 in cuBLAS/cuDNN matmuls (needed for fp32 conformance on Ampere+); no-op without CUDA.
void set_allow_tf32(bool allow);

}  // namespace vr::compat
