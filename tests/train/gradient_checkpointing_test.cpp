// With gradient checkpointing and frozen early layers, gradients must still reach the projector and every
// selected layer, and equal the gradients without checkpointing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vr/model/tiny_model.h"
#include "vr/train/trainable_params.h"

namespace train_gradient_checkpointing_test {

namespace {

std::map<std::string, at::Tensor> grads_of(bool checkpointing, const std::string& dir) {
  auto m = vr::model::load_lvlm(dir);
  vr::train::apply_freeze(*m, vr::train::FreezeSpec{"sft", "full", {3, 6}, true, false, true});
  m->language_model->set_gradient_checkpointing(checkpointing);
  m->train();
  torch::manual_seed(1);
  vr::model::LvlmInputs in;
  in.input_ids = torch::randint(3, 200, {2, 12}, torch::kInt64);
  in.input_ids.index_put_({torch::indexing::Slice(), 1}, -200);
  in.labels = in.input_ids.clone().masked_fill_(in.input_ids.eq(-200), -100);
  in.attention_mask = torch::ones_like(in.input_ids);
  const int64_t s = m->config().vision.image_size;
  in.pixel_values = torch::randn({2, 3, s, s});
  m->forward(in).loss.backward();
  std::map<std::string, at::Tensor> g;
  for (auto& kv : m->named_parameters()) {
    EXPECT_EQ(kv.value().grad().defined(), kv.value().requires_grad()) << kv.key();
    if (kv.value().grad().defined()) g[kv.key()] = kv.value().grad().clone();
  }
  return g;
}

}  // namespace

TEST(GradientCheckpointing, FrozenEarlyLayersStillDeliverGradients) {
  std::string dir = vr::test::temp_dir("gc_tiny") + "/m";
  vr::model::make_tiny_model(dir, {"llava", 5});
  auto plain = grads_of(false, dir);
  auto ckpt = grads_of(true, dir);
  ASSERT_EQ(plain.size(), ckpt.size());
  int projector = 0, layer3 = 0, layer6 = 0;
  for (auto& [name, g] : ckpt) {
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << name << ": zero gradient";
    EXPECT_TRUE(vr::test::all_close(g, plain.at(name), 1e-6, 1e-5, name));
    projector += name.rfind("multi_modal_projector.", 0) == 0;
    layer3 += name.rfind("language_model.model.layers.3.", 0) == 0;
    layer6 += name.rfind("language_model.model.layers.6.", 0) == 0;
  }
  EXPECT_EQ(projector, 4);
  EXPECT_EQ(layer3, 9);
  EXPECT_EQ(layer6, 9);
}

}  // namespace train_gradient_checkpointing_test
