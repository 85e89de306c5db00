#include "vr/core/torch_compat.h"


#include <ATen/Context.h>
#include <torch/version.h>

#ifdef VR_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace vr::compat {

std::string torch_version() { return TORCH_VERSION; }

bool cuda_available() {
#ifdef VR_WITH_CUDA
  return c10::cuda::device_count() > 0;
#else
  return false;
#endif
}

int64_t cuda_peak_allocated_bytes(int device) {
#ifdef VR_WITH_CUDA
  if (!cuda_available()) return 0;
  // Index 0 of each stat array is StatType::AGGREGATE in both 1.13 and 2.x.
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  return stats.allocated_bytes[0].peak;
#else
  (void)device;
  return 0;
#endif
}

void cuda_reset_peak_stats(int device) {
#ifdef VR_WITH_CUDA
  if (cuda_available()) c10::cuda::CUDACachingAllocator::resetPeakStats(device);
#else
  (void)device;
#endif
}

void cuda_synchronize(int device) {
#ifdef VR_WITH_CUDA
  if (cuda_available()) {
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
    c10::cuda::device_synchronize();
  }
#else
  (void)device;
#endif
}

void set_allow_tf32(bool allow) {
  at::globalContext().setAllowTF32CuBLAS(allow);
  at::globalContext().setAllowTF32CuDNN(allow);
}

}  // namespace vr::compat
