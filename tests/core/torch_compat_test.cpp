#include "vr/core/process_memory.h"
#include "vr/core/torch_compat.h"

#include <vector>

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

}  // namespace core_torch_compat_test
