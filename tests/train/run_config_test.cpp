#include "vr/train/run_config.h"

#include <set>

#include <gtest/gtest.h>

#include "vr/core/error.h"

namespace train_run_config_test {

using vr::train::RunConfig;

namespace {
// Records every bound key, to check the public contract without parsing YAML.
struct KeyRecorder : vr::ConfigBinder {
  std::set<std::string> keys;
  void field(const std::string& p, bool&, const std::string&) override { keys.insert(p); }
  void field(const std::string& p, int64_t&, const std::string&) override { keys.insert(p); }
  void field(const std::string& p, double&, const std::string&) override { keys.insert(p); }
  void field(const std::string& p, std::string&, const std::string&) override { keys.insert(p); }
  void field(const std::string& p, std::vector<int64_t>&, const std::string&) override { keys.insert(p); }
  void field(const std::string& p, std::vector<std::string>&, const std::string&) override { keys.insert(p); }
  void choice(const std::string& p, std::string&, const std::vector<std::string>&, const std::string&) override {
    keys.insert(p);
  }
};

std::string validation_error(const RunConfig& c) {
  try {
    c.validate();
  } catch (const vr::Error& e) {
    return e.what();
  }
  return "";
}

RunConfig valid() {
  RunConfig c;
  c.model.path = "models/tiny";
  return c;
}
}  // namespace

TEST(RunConfig, BindsThePublicContractKeys) {
  RunConfig c;
  KeyRecorder r;
  c.bind(r);
  for (const char* key : {"model.path", "output_dir", "resume", "train.max_steps", "train.seed", "selection.strategy",
                          "selection.layers", "selection.fraction", "train.stage", "train.method", "train.lr",
                          "train.mm_projector_lr", "train.warmup_ratio", "train.grad_accum", "lora.r",
                          "data.path", "data.synthetic.num_samples", "data.template"})
    EXPECT_TRUE(r.keys.count(key)) << key;
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
