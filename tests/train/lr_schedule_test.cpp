#include "vr/train/lr_schedule.h"

#include <cmath>

#include <gtest/gtest.h>

#include "vr/core/error.h"

namespace train_lr_schedule_test {

using vr::train::LrSchedule;

// SPEC §5: W = ceil(0.03·S); LLaVA-665K at global batch 128: S = 5198 → W = 156.
TEST(LrSchedule, WarmupStepsIsCeilOfRatio) {
  EXPECT_EQ(LrSchedule::make("cosine", 5198, 0.03).warmup_steps, 156);
  EXPECT_EQ(LrSchedule::make("cosine", 5430, 0.03).warmup_steps, 163);
  EXPECT_EQ(LrSchedule::make("cosine", 10, 0.03).warmup_steps, 1);   // ceil(0.3)
  EXPECT_EQ(LrSchedule::make("cosine", 100, 0.0).warmup_steps, 0);
}

TEST(LrSchedule, CosineValues) {
  auto s = LrSchedule::make("cosine", 100, 0.1);  // W = 10
  EXPECT_DOUBLE_EQ(s.factor(0), 0.0);             // HF: the first step runs at lr 0
  EXPECT_DOUBLE_EQ(s.factor(5), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(10), 1.0);
  EXPECT_NEAR(s.factor(55), 0.5, 1e-12);          // halfway through the decay
  EXPECT_NEAR(s.factor(40), 0.5 * (1 + std::cos(M_PI * 30.0 / 90.0)), 1e-12);
  EXPECT_NEAR(s.factor(99), 0.5 * (1 + std::cos(M_PI * 89.0 / 90.0)), 1e-12);
  EXPECT_NEAR(s.factor(100), 0.0, 1e-12);
}

TEST(LrSchedule, LinearAndConstant) {
  auto lin = LrSchedule::make("linear", 20, 0.1);  // W = 2
  EXPECT_DOUBLE_EQ(lin.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(lin.factor(2), 1.0);
  EXPECT_DOUBLE_EQ(lin.factor(11), 0.5);
  auto c = LrSchedule::make("constant", 20, 0.1);
  EXPECT_DOUBLE_EQ(c.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(c.factor(19), 1.0);
}

TEST(LrSchedule, RejectsUnknownKindAndEmptyRun) {
  EXPECT_THROW(LrSchedule::make("cosin", 10, 0.03), vr::Error);
  EXPECT_THROW(LrSchedule::make("cosine", 0, 0.03), vr::Error);
}

}  // namespace train_lr_schedule_test
