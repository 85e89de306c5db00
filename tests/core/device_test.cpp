// Which CUDA device a local rank takes, with the visible device count injected (no GPU needed).
#include "vr/core/device.h"

#include <gtest/gtest.h>

#include "vr/core/error.h"

namespace core_device_test {

using vr::cuda_index_for_local_rank;

TEST(CudaIndexForLocalRank, EnoughDevicesMeansTheLocalRank) {
  EXPECT_EQ(cuda_index_for_local_rank(0, 8), 0);
  EXPECT_EQ(cuda_index_for_local_rank(7, 8), 7);
}

// Slurm --gpus-per-task=1 (or CUDA_VISIBLE_DEVICES set per rank): every task sees its own GPU as device 0.
TEST(CudaIndexForLocalRank, OneVisibleDevicePerTaskMeansDeviceZero) {
  for (int64_t r = 0; r < 8; ++r) EXPECT_EQ(cuda_index_for_local_rank(r, 1), 0);
}

TEST(CudaIndexForLocalRank, TooFewDevicesIsAClearErrorNamingBothNumbers) {
  try {
    cuda_index_for_local_rank(5, 4);
    FAIL() << "expected vr::Error";
  } catch (const vr::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("local rank 5 needs CUDA device 5"), std::string::npos) << m;
    EXPECT_NE(m.find("sees only 4 devices"), std::string::npos) << m;
  }
  EXPECT_THROW(cuda_index_for_local_rank(0, 0), vr::Error);
}

TEST(ResolveDevice, CpuIsCpu) { EXPECT_TRUE(vr::resolve_device("cpu", 3).is_cpu()); }

}  // namespace core_device_test
