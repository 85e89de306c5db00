// `vrtrain --version`: the build's LibTorch, its GPU stack (CUDA, cuDNN, NCCL as LibTorch reports them) and the
// visible devices, as a bug report needs them.
#include <gtest/gtest.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/torch_compat.h"

namespace e2e_version_cli_test {

TEST(VersionCli, PrintsLibTorchGpuStackAndDevices) {
  const auto r = vr::test::run_vrtrain("--version", vr::test::temp_dir("version_cli"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("vrtrain "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("LibTorch " + vr::compat::torch_version() + ": " + vr::compat::gpu_stack_description()),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("BLAS: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("devices:\n  "), std::string::npos) << r.output;
#ifdef VR_WITH_CUDA
  // A CUDA LibTorch (CI's 2.x build): the versions are there even on a machine without a GPU.
  EXPECT_NE(r.output.find("CUDA "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NCCL "), std::string::npos) << r.output;
#else
  EXPECT_NE(r.output.find("CPU only"), std::string::npos) << r.output;
#endif
  if (!vr::compat::cuda_available()) EXPECT_NE(r.output.find("no CUDA device visible"), std::string::npos);
}

}  // namespace e2e_version_cli_test
