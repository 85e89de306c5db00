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

int64_t cuda_index_for_local_rank(int64_t local_rank, int64_t visible) {
  VR_CHECK(visible > 0, "local rank {}: no CUDA device is visible", local_rank);
  if (local_rank < visible) return local_rank;
  if (visible == 1) return 0;
  VR_FAIL("local rank {} needs CUDA device {}, but this process sees only {} devices (CUDA_VISIBLE_DEVICES?): run "
          "at most {} ranks per node, or give every rank one GPU of its own (then each uses device 0)",
          local_rank, local_rank, visible, visible);
}

c10::Device resolve_device(const std::string& spec, int64_t local_rank) {
  const bool have_cuda = compat::cuda_available();
  auto cuda = [](int64_t index) { return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)); };
  if (spec == "auto")
    return have_cuda ? cuda(cuda_index_for_local_rank(local_rank, compat::cuda_device_count())) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    VR_CHECK(have_cuda, "device '{}' requested, but {} (LibTorch {}): use 'cpu' or 'auto'", spec,
             kBuiltWithCuda ? "no CUDA device is visible"
                            : "this vrtrain was built without CUDA (build against LibTorch 2.x: scripts/libtorch2.sh)",
             compat::torch_version());
    if (spec.size() <= 5) return cuda(cuda_index_for_local_rank(local_rank, compat::cuda_device_count()));
    int64_t index = 0;
    {
      size_t used = 0;
      try {
        index = std::stoll(spec.substr(5), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      VR_CHECK(used == spec.size() - 5 && index >= 0, "device '{}': expected cuda:N with N a device number", spec);
    }
    VR_CHECK(index < compat::cuda_device_count(), "device '{}': this process sees only {} CUDA devices", spec,
             compat::cuda_device_count());
    return cuda(index);
  }
  VR_FAIL("device '{}': expected auto, cpu, cuda or cuda:N", spec);
}

c10::Device default_device() { return resolve_device("auto"); }

void synchronize_device(const c10::Device& device) {
  if (device.is_cuda()) compat::cuda_synchronize(device.index() < 0 ? 0 : device.index());
}

std::string device_name(const c10::Device& device) { return device.str(); }

}  // namespace vr
