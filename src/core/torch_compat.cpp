#include "vr/core/torch_compat.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/version.h>

#include "vr/core/error.h"

#include <ATen/detail/CUDAHooksInterface.h>

#ifdef VR_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#include <torch/csrc/cuda/nccl.h>
#endif

namespace vr::compat {

std::string torch_version() { return TORCH_VERSION; }

std::string gpu_stack_description() {
#ifdef VR_WITH_CUDA
  const auto& hooks = at::detail::getCUDAHooks();
  // cudart: major·1000 + minor·10; cuDNN 9: major·10000 + minor·100 + patch (8: ·1000, ·100); NCCL (torch's own
  // packing): major << 32 | minor << 16 | patch.
  const long rt = hooks.versionCUDART();
  std::string s = fmt::format("CUDA {}.{}", rt / 1000, (rt % 1000) / 10);
  if (at::globalContext().hasCuDNN()) {
    const long dnn = hooks.versionCuDNN();
    s += dnn >= 90000 ? fmt::format(", cuDNN {}.{}.{}", dnn / 10000, (dnn % 10000) / 100, dnn % 100)
                      : fmt::format(", cuDNN {}.{}.{}", dnn / 1000, (dnn % 1000) / 100, dnn % 100);
  }
  const std::uint64_t nccl = torch::cuda::nccl::version();
  s += nccl ? fmt::format(", NCCL {}.{}.{}", nccl >> 32, (nccl >> 16) & 0xffff, nccl & 0xffff)
            : std::string(", no NCCL");
  return s;
#else
  return "CPU only (LibTorch without CUDA)";
#endif
}

std::string visible_devices_description() {
#ifdef VR_WITH_CUDA
  const int64_t n = cuda_device_count();
  if (n == 0) return "no CUDA device visible";
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, static_cast<int>(i)) != cudaSuccess) {
      s += fmt::format("{}cuda:{} (properties unreadable)", i ? "\n" : "", i);
      continue;
    }
    s += fmt::format("{}cuda:{} {}, {:.1f} GiB, compute capability {}.{}", i ? "\n" : "", i, p.name,
                     static_cast<double>(p.totalGlobalMem) / (1ull << 30), p.major, p.minor);
  }
  return s;
#else
  return "no CUDA device visible";
#endif
}

bool cuda_available() {
#ifdef VR_WITH_CUDA
  return c10::cuda::device_count() > 0;
#else
  return false;
#endif
}

int64_t cuda_device_count() {
#ifdef VR_WITH_CUDA
  return static_cast<int64_t>(c10::cuda::device_count());
#else
  return 0;
#endif
}

void cuda_set_device(int device) {
#ifdef VR_WITH_CUDA
  if (cuda_available()) c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
#else
  (void)device;
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

// ---- CPU threads ---------------------------------------------------------------------------------------------

namespace {

// OpenBLAS's C API, looked up in the already loaded library (LibTorch links it; no link-time dependency, and a
// LibTorch built on MKL simply has none of these symbols).
template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

std::string blas_kind() {
  auto get_parallel = openblas_symbol<int (*)()>("openblas_get_parallel");
  // The PyPI wheels' LibTorch links MKL, whose threads follow at::set_num_threads (LibTorch calls
  // mkl_set_num_threads itself): nothing to size, but say which BLAS ran in run headers and benchmarks.
  if (!get_parallel) return openblas_symbol<int (*)()>("mkl_get_max_threads") ? "mkl" : "other";
  switch (get_parallel()) {  // OpenBLAS: 0 sequential, 1 its own pthreads pool, 2 OpenMP
    case 0: return "openblas-serial";
    case 1: return "openblas-pthread";
    case 2: return "openblas-openmp";
    default: return "other";
  }
}

int blas_threads() {
  auto get = openblas_symbol<int (*)()>("openblas_get_num_threads");
  if (get) return get();
  auto mkl_get = openblas_symbol<int (*)()>("mkl_get_max_threads");
  return mkl_get ? mkl_get() : -1;
}

void set_blas_threads(int n) {
  auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads");
  if (set && n > 0) set(n);
}

void set_cpu_threads(int n) {
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  // OpenBLAS with OpenMP follows omp_set_num_threads (which at::set_num_threads calls) and runs single-threaded
  // inside LibTorch's parallel regions: nothing to do. Its pthreads build keeps a pool of its own, sized to every
  // core at load time, so "1 thread" used to run GEMMs on 2 threads (measured on the shared 2-core CI machine:
  // 13-15 s per step instead of 9.5 s, docs/benchmarks.md); it gets the same count as LibTorch, unless the user
  // set OPENBLAS_NUM_THREADS, which wins.
  if (blas_kind() == "openblas-pthread" && std::getenv("OPENBLAS_NUM_THREADS") == nullptr) set_blas_threads(n);
}

std::string cpu_threads_description() {
  const int bt = blas_threads();
  return fmt::format("{} LibTorch threads, {}{}", at::get_num_threads(), blas_kind(),
                     bt > 0 ? fmt::format(" with {} thread{}", bt, bt == 1 ? "" : "s") : "");
}

// ---- fused attention -----------------------------------------------------------------------------------------

bool sdpa_available() { return TORCH_VERSION_MAJOR >= 2; }

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask, bool is_causal, std::optional<double> scale) {
  VR_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
           "scaled_dot_product_attention: q [B,nH,T,D], k/v [B,nKV,S,D] with nH a multiple of nKV, got {} and {}",
           c10::str(q.sizes()), c10::str(k.sizes()));
  VR_CHECK(!(is_causal && mask.defined()), "scaled_dot_product_attention: causal or a mask, not both");
#if TORCH_VERSION_MAJOR >= 2
  const int64_t r = q.size(1) / k.size(1);
  const c10::optional<at::Tensor> m = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
  const c10::optional<double> s = scale ? c10::optional<double>(*scale) : c10::nullopt;
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
  // enable_gqa: key/value head j serves query heads j·r … j·r+r−1 without materialising the repeat.
  return at::scaled_dot_product_attention(q, k, v, m, 0.0, is_causal, s, /*enable_gqa=*/r > 1);
#else
  auto expand = [r](const at::Tensor& x) {  // [B,nKV,S,D] → [B,nKV·r,S,D] (HF repeat_kv)
    if (r == 1) return x;
    return x.unsqueeze(2).expand({x.size(0), x.size(1), r, x.size(2), x.size(3)})
        .reshape({x.size(0), x.size(1) * r, x.size(2), x.size(3)});
  };
#if TORCH_VERSION_MINOR >= 1
  return at::scaled_dot_product_attention(q, expand(k), expand(v), m, 0.0, is_causal, s);
#else
  // 2.0 has no scale argument: it divides by sqrt(D), so fold the requested scale into q.
  const double d = static_cast<double>(q.size(3));
  const at::Tensor qs = scale ? q * (*scale * std::sqrt(d)) : q;
  return at::scaled_dot_product_attention(qs, expand(k), expand(v), m, 0.0, is_causal);
#endif
#endif
#else
  (void)scale;
  VR_FAIL("scaled_dot_product_attention needs LibTorch >= 2.0 (this build: {})", TORCH_VERSION);
#endif
}

}  // namespace vr::compat
