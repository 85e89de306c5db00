#include "vr/train/run_config.h"

#include <set>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"

namespace train_run_config_test {

using vr::train::RunConfig;

namespace {

std::string validation_error(const RunConfig& c) { return vr::test::error_of([&] { c.validate(); }); }

RunConfig valid() {
  RunConfig c;
  c.model.path = "models/tiny";
  return c;
}
}  // namespace

TEST(RunConfig, BindsThePublicContractKeys) {
  RunConfig c;
  const std::vector<std::string> bound = vr::test::bound_keys(c);
  const std::set<std::string> keys(bound.begin(), bound.end());
  for (const char* key : {"model.path", "output_dir", "resume", "train.max_steps", "train.seed", "selection.strategy",
                          "selection.layers", "selection.fraction", "train.stage", "train.method", "train.lr",
                          "train.mm_projector_lr", "train.warmup_ratio", "train.grad_accum", "lora.r",
                          "data.path", "data.synthetic.num_samples", "data.template"})
    EXPECT_TRUE(keys.count(key)) << key;
}

TEST(RunConfig, ValidationMessagesNameTheKey) {
  EXPECT_EQ(validation_error(valid()), "");
  RunConfig c = valid();
  c.model.path = "";
  EXPECT_NE(validation_error(c).find("model.path"), std::string::npos);
  c = valid();
  c.data.path = "CHANGE_ME/llava_v1_5_mix665k.json";
  EXPECT_NE(validation_error(c).find("data.path is still the placeholder"), std::string::npos);
  c = valid();
  c.train.batch_size = 0;
  EXPECT_NE(validation_error(c).find("train.batch_size must be > 0"), std::string::npos);
  c = valid();
  c.train.warmup_ratio = 1.5;
  EXPECT_NE(validation_error(c).find("train.warmup_ratio"), std::string::npos);
  c = valid();
  c.train.stage = "full";
  c.train.method = "lora";
  EXPECT_NE(validation_error(c).find("train.method=lora needs train.stage=sft"), std::string::npos);
  c = valid();
  c.selection.strategy = "manual";
  EXPECT_NE(validation_error(c).find("selection.layers"), std::string::npos);
  c.selection.layers = {1, 5};
  EXPECT_EQ(validation_error(c), "");
  c = valid();
  c.train.lr = -1;
  EXPECT_NE(validation_error(c).find("train.lr"), std::string::npos);
  c = valid();
  c.train.method = "lora";
  c.lora.r = 0;
  EXPECT_NE(validation_error(c).find("lora.r"), std::string::npos);
}

}  // namespace train_run_config_test
