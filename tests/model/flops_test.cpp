// The training-step FLOP model (vr/model/flops.h) on a case small enough to count by hand.
#include <gtest/gtest.h>

#include "vr/model/flops.h"

namespace model_flops_test {

namespace {

// B 2, M 10 (N 20), L 1, H 4, P 100, Pt 50, Pv 20, one image of F 5 per sample:
//   LLM forward 2·100·20 = 4000, attention 4·1·2·10²·4 = 3200; backward 4000 + 6400; weight gradients 2·50·20 =
//   2000; vision 2·20·(2·1·5) = 400; total 20000. Checkpointing adds the forward again: 4000 + 3200.
vr::model::StepFlopsShape hand_case() {
  // batch, merged tokens, images per sample, patches per image, layers, hidden, P, Pt, Pv, checkpointing
  return {2, 10, 1, 5, 1, 4, 100, 50, 20, false};
}

TEST(Flops, TrainingStepByHand) {
  vr::model::StepFlopsShape s = hand_case();
  EXPECT_DOUBLE_EQ(vr::model::training_step_flops(s), 20000.0);
  s.gradient_checkpointing = true;
  EXPECT_DOUBLE_EQ(vr::model::training_step_flops(s), 27200.0);
  s.images_per_sample = 0;  // text only: no vision forward
  EXPECT_DOUBLE_EQ(vr::model::training_step_flops(s), 26800.0);
}

}  // namespace

}  // namespace model_flops_test
