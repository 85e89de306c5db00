#include "vr/core/process_memory.h"
#include "vr/core/torch_compat.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

#include <gtest/gtest.h>

namespace core_torch_compat_test {

TEST(TorchCompat, VersionIsKnown) {
  const std::string v = vr::compat::torch_version();
  ASSERT_FALSE(v.empty());
  EXPECT_TRUE(v[0] == '1' || v[0] == '2') << v;
}

TEST(TorchCompat, PeakRssGrowsWithAllocation) {
  const int64_t before = vr::peak_rss_bytes();
  ASSERT_GT(before, 0);
  std::vector<char> block(64 << 20, 1);  // touch 64 MiB so it is resident
  volatile char sink = block[block.size() / 2];
  (void)sink;
  EXPECT_GE(vr::peak_rss_bytes(), before + (32 << 20));
}

TEST(TorchCompat, CudaQueriesAreSafeWithoutDevice) {
  if (vr::compat::cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(vr::compat::cuda_peak_allocated_bytes(), 0);
  vr::compat::cuda_reset_peak_stats();
  vr::compat::cuda_synchronize();
  vr::compat::set_allow_tf32(false);
}

// set_cpu_threads(n) sizes LibTorch's pool and the BLAS's: a pthreads OpenBLAS keeps a pool of its own (sized to
// every core at load time) that at::set_num_threads never touches; MKL follows LibTorch's count. A BLAS left at
// the wrong size silently oversubscribes the cores (docs/benchmarks.md, "Threads").
TEST(TorchCompat, SetCpuThreadsSizesLibTorchAndTheBlasPool) {
  const std::string kind = vr::compat::blas_kind();
  const std::vector<std::string> known{"openblas-pthread", "openblas-openmp", "openblas-serial", "mkl", "other"};
  ASSERT_NE(std::find(known.begin(), known.end(), kind), known.end()) << kind;
  const int before = at::get_num_threads();
  const int two = static_cast<int>(std::max(1u, std::min(2u, std::thread::hardware_concurrency())));
  // ctest sets OPENBLAS_NUM_THREADS=1 (tests/CMakeLists.txt), which set_cpu_threads respects: lift it here.
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  const std::string saved = env ? env : "";
  unsetenv("OPENBLAS_NUM_THREADS");
  const bool blas_follows = kind == "openblas-pthread" || kind == "mkl";
  for (int n : {1, two}) {
    vr::compat::set_cpu_threads(n);
    EXPECT_EQ(at::get_num_threads(), n);
    if (blas_follows) EXPECT_EQ(vr::compat::blas_threads(), n) << kind;
    const std::string d = vr::compat::cpu_threads_description();
    EXPECT_NE(d.find(std::to_string(n) + " LibTorch thread"), std::string::npos) << d;
    EXPECT_NE(d.find(kind), std::string::npos) << d;
  }
  if (kind == "openblas-pthread") {  // a user's OPENBLAS_NUM_THREADS wins over set_cpu_threads
    vr::compat::set_cpu_threads(1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    vr::compat::set_cpu_threads(two);
    EXPECT_EQ(vr::compat::blas_threads(), 1);
  }
  if (env) setenv("OPENBLAS_NUM_THREADS", saved.c_str(), 1); else unsetenv("OPENBLAS_NUM_THREADS");
  vr::compat::set_cpu_threads(before);
}

}  // namespace core_torch_compat_test
