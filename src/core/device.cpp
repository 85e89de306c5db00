#include "vr/core/device.h"

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"

namespace vr {

namespace {
#ifdef VR_WITH_CUDA
constexpr bool kBuiltWithCuda = true;
#else
constexpr bool kBuiltWithCuda = false;
#endif
}  // namespace

c10::Device resolve_device(const std::string& spec, int64_t local_rank) {
  const bool have_cuda = compat::cuda_available();
  if (spec == "auto")
    return have_cuda ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank)) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    VR_CHECK(have_cuda, "device '{}' requested, but {} (LibTorch {}): use 'cpu' or 'auto'", spec,
             kBuiltWithCuda ? "no CUDA device is visible"
                            : "this vrtrain was built without CUDA (build against LibTorch 2.x: scripts/libtorch2.sh)",
             compat::torch_version());
    int64_t index = local_rank;
    if (spec.size() > 5) {
      size_t used = 0;
      try {
        index = std::stoll(spec.substr(5), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      VR_CHECK(used == spec.size() - 5 && index >= 0, "device '{}': expected cuda:N with N a device number", spec);
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  VR_FAIL("device '{}': expected auto, cpu, cuda or cuda:N", spec);
}

c10::Device default_device() { return resolve_device("auto"); }

void synchronize_device(const c10::Device& device) {
  if (device.is_cuda()) compat::cuda_synchronize(device.index() < 0 ? 0 : device.index());
}

std::string device_name(const c10::Device& device) { return device.str(); }

}  // namespace vr
