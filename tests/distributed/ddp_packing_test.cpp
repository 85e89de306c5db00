// data.packing under data parallelism, with the real `vrtrain` binary (Gloo over loopback, tiny llava model,
// synthetic shapes): the packed row order is the seed's alone, so 2 ranks x 1 row per micro-batch must give the
// weights of 1 process x 1 row x accumulation 2 (same tolerance and reasoning as ddp_e2e_test.cpp), for the
// batch and token loss normalisations, full and LoRA. The start-up line reports the plan.
#include <string>

#include <gtest/gtest.h>

#include "distributed/vrtrain_runs.h"
#include "support/fixtures.h"

namespace distributed_ddp_packing_test {

constexpr double kTol = 1e-5;
// Synthetic samples merge to ~16 image slots + ~20-40 text tokens: rows of 160 hold 2-4 of them.
constexpr const char* kPacked = "--set data.packing=true --set data.pack_length=160 --set data.pack_buffer=24";

class DdpPacking : public ::testing::TestWithParam<const char*> {};

TEST_P(DdpPacking, TwoRanksPackedEqualOneProcessPackedWithAccumulationTwo) {
  const std::string extra = std::string(kPacked) + " " + GetParam();
  const std::string one = vr::test::temp_dir("ddp_pack1") + "/run", two = vr::test::temp_dir("ddp_pack2") + "/run";
  vr::test::Proc a = vr::test::run_single(one, 1, 2, extra);
  ASSERT_EQ(a.code, 0) << a.text;
  vr::test::Proc b = vr::test::run_launch2(two, 1, 1, extra);
  ASSERT_EQ(b.code, 0) << b.text;
  EXPECT_NE(a.text.find("data.packing: epoch 0 packs 48 samples into"), std::string::npos) << a.text;
  const double diff = vr::test::max_weight_diff(vr::test::final_weights(one), vr::test::final_weights(two));
  EXPECT_LE(diff, kTol);
  std::printf("[ packed ddp ] %s: max |w(2 ranks) - w(1 process, accum 2)| = %.3g\n", GetParam(), diff);
}

INSTANTIATE_TEST_SUITE_P(
    Normalisations, DdpPacking,
    ::testing::Values("", "--set train.loss_normalization=token",
                      "--config " VR_SOURCE_DIR "/configs/tiny_lora.yaml --set lora.dropout=0 "
                      "--set train.loss_normalization=token"),
    [](const auto& info) { return std::string(info.index == 0 ? "Batch" : info.index == 1 ? "Token" : "LoraToken"); });

}  // namespace distributed_ddp_packing_test
