// data.model_max_length bounds the MERGED sequence (text + image features) of a training run, as LLaVA's
// tokenizer_model_max_length does (SPEC §1.6 step 5), and the exported config carries the cap.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/tensor_files.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/train/final_export.h"
#include "vr/train/prepare_run.h"
#include "vr/train/run_context.h"
#include "vr/model/tiny_model.h"

namespace train_model_max_length_test {

TEST(ModelMaxLength, DataCapBoundsTheMergedSequenceAndIsExported) {
  const std::string root = vr::test::temp_dir("model_max_length");
  vr::model::TinyModelOptions t;
  t.num_layers = 2;
  t.hidden_size = 32;
  vr::model::make_tiny_model(root + "/tiny", t);  // 16 image features per image, no cap in its config
  vr::train::RunConfig cfg;
  cfg.model.path = root + "/tiny";
  cfg.data.model_max_length = 20;
  cfg.train.stage = "sft";
  cfg.selection.strategy = "uniform";
  auto run = vr::train::prepare_run(cfg, vr::train::RunContext::single_process());
  auto& m = *run.model;
  EXPECT_EQ(m->config().model_max_length, 20);

  // 10 ids with one placeholder at 3: 3 text + 16 image + 6 text = 25 merged tokens, cut to 20.
  vr::model::LvlmInputs in;
  in.input_ids = torch::randint(3, 200, {2, 10}, torch::kInt64);
  in.input_ids.index_put_({torch::indexing::Slice(), 3}, vr::model::kLlavaImageTokenIndex);
  in.labels = in.input_ids.masked_fill(in.input_ids.lt(0), -100);
  const int64_t s = m->config().vision.image_size;
  in.pixel_values = torch::randn({2, 3, s, s});
  torch::NoGradGuard ng;
  m->eval();
  auto out = m->forward(in);
  EXPECT_EQ(out.logits.size(1), 20);
  EXPECT_EQ(out.merged_labels.size(1), 20);
  EXPECT_EQ(out.image_token_mask.sum().item<int64_t>(), 2 * 16);
  EXPECT_TRUE(out.loss.defined() && std::isfinite(out.loss.item<double>()));

  vr::train::export_lvlm(m, root + "/final", /*lora=*/false, root + "/tiny");
  auto j = vr::load_config_json(root + "/final");
  EXPECT_EQ(j["tokenizer_model_max_length"], 20);
  EXPECT_EQ(vr::model::load_lvlm(root + "/final")->config().model_max_length, 20);
}

}  // namespace train_model_max_length_test
