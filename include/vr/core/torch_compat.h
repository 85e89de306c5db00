// The few LibTorch calls that differ between Debian's LibTorch 1.13 (CPU) and LibTorch 2.x (CUDA) live here,
// behind plain functions, so the rest of the code is version-free. Tested in tests/core/torch_compat_test.cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/Tensor.h>

namespace vr::compat {

// "1.13.0" / "2.11.0": the LibTorch the binary was built against.
std::string torch_version();
// The GPU stack this binary carries, as LibTorch reports it: "CUDA 13.0, cuDNN 9.15.1, NCCL 2.28.9" (the
// versions LibTorch was built with), or "CPU only (LibTorch without CUDA)". No device is needed to ask.
std::string gpu_stack_description();
// One line per visible CUDA device ("cuda:0 NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0"), or
// "no CUDA device visible".
std::string visible_devices_description();
// True when built against a CUDA-enabled LibTorch (VR_WITH_CUDA) and a device is visible at run time.
bool cuda_available();
// CUDA devices visible to this process (0 without CUDA).
int64_t cuda_device_count();
// Makes `device` the current CUDA device of this thread (no-op without CUDA): NCCL's communicator and the
// caching allocator's first allocations then land there, not on device 0.
void cuda_set_device(int device);
// Peak bytes held by the CUDA caching allocator on `device` since the last reset; 0 without CUDA.
int64_t cuda_peak_allocated_bytes(int device = 0);
void cuda_reset_peak_stats(int device = 0);
void cuda_synchronize(int device = 0);
// Disables TF32 in cuBLAS/cuDNN matmuls (needed for fp32 conformance on Ampere+); no-op without CUDA.
void set_allow_tf32(bool allow);

// ---- CPU threads ---------------------------------------------------------------------------------------------
// LibTorch's intra-op threads (OpenMP) and the threads of the BLAS it calls, set together: n threads use n cores.
// Debian's OpenBLAS pthreads build (libopenblas0-pthread) keeps a pool of its own sized to every core, which
// at::set_num_threads does not touch; it gets n threads too (OPENBLAS_NUM_THREADS, when set, wins). n <= 0: 1.
// Why 2 threads can be slower than 1 on a shared machine (libgomp's spin-waiting): docs/benchmarks.md.
void set_cpu_threads(int n);
// The BLAS library LibTorch resolved at run time: "openblas-pthread", "openblas-openmp", "openblas-serial",
// "mkl" (the PyPI wheels' LibTorch), or "other" (reference BLAS, ...).
std::string blas_kind();
// BLAS threads now (openblas_get_num_threads or mkl_get_max_threads), -1 for any other BLAS.
int blas_threads();
// Sets OpenBLAS's own thread count (no-op for other BLAS libraries).
void set_blas_threads(int n);
// "2 LibTorch threads, openblas-pthread with 1 thread": for run headers and benchmarks.
std::string cpu_threads_description();

// ---- fused attention (scaled_dot_product_attention, LibTorch >= 2.0) -------------------------------------------
// True when built against a LibTorch that has at::scaled_dot_product_attention (2.0 and later).
bool sdpa_available();
// softmax(q·kᵀ·scale + mask)·v with LibTorch's fused kernels (flash / memory-efficient on CUDA, the flash CPU
// kernel on CPU). q [B,nH,T,D]; k, v [B,nKV,S,D] with nH a multiple of nKV (grouped-query attention: LibTorch
// >= 2.5 attends without copying K/V, older versions expand them); mask undefined or additive [B,1,T,S];
// is_causal: query i sees keys j <= i (T == S, no mask); scale: 1/sqrt(D) when absent. Throws vr::Error when
// !sdpa_available().
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask, bool is_causal,
                                        std::optional<double> scale = std::nullopt);

}  // namespace vr::compat
