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

// MFU counts what the step must execute: with the lowest trained layer 3 of 4 (and a 40-element lm_head in P),
// backward through activations covers lm_head + a quarter of the layers' 60: 2·(40 + 15)·20 = 2200, attention
// 2·3200/4 = 1600; weight gradients 2000 as before; forward 7200; vision 400: model FLOPs 13400. Checkpointing's
// recompute (7200) goes into HFU only.
TEST(Flops, ModelFlopsStopAtTheLowestTrainedLayer) {
  vr::model::StepFlopsShape s = hand_case();
  s.layers = 4;
  s.hidden = 1;  // attention 4·4·2·10²·1 = 3200, as before
  s.lm_head_params = 40;
  s.lowest_trained_layer = 3;
  vr::model::StepFlops f = vr::model::training_step_flop_count(s);
  EXPECT_DOUBLE_EQ(f.llm_forward, 4000.0 + 3200.0);
  EXPECT_DOUBLE_EQ(f.llm_backward, 2200.0 + 1600.0 + 2000.0);
  EXPECT_DOUBLE_EQ(f.vision_forward, 400.0);
  EXPECT_DOUBLE_EQ(f.model(), 13400.0);
  EXPECT_DOUBLE_EQ(f.recompute, 0.0);
  s.gradient_checkpointing = true;
  f = vr::model::training_step_flop_count(s);
  EXPECT_DOUBLE_EQ(f.model(), 13400.0);
  EXPECT_DOUBLE_EQ(f.hardware(), 13400.0 + 7200.0);
  s.lowest_trained_layer = 0;  // backward through everything: the bench's count
  EXPECT_DOUBLE_EQ(vr::model::training_step_flops(s), vr::model::training_step_flop_count(s).hardware());
}

}  // namespace

}  // namespace model_flops_test
