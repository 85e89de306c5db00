#include "vr/train/trainable_params.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/toy_task.h"
#include "vr/core/error.h"

namespace train_trainable_params_test {

using namespace vr::train;

TEST(TrainableParams, ClassifiesLlavaHfNames) {
  auto i = classify_param("language_model.model.layers.13.self_attn.q_proj.weight");
  EXPECT_EQ(i.role, ParamRole::Layer);
  EXPECT_EQ(i.layer, 13);
  EXPECT_FALSE(i.is_norm);
  EXPECT_TRUE(classify_param("language_model.model.layers.2.post_attention_layernorm.weight").is_norm);
  EXPECT_TRUE(classify_param("language_model.model.layers.2.mlp.up_proj.lora_A.weight").is_lora);
  EXPECT_EQ(classify_param("multi_modal_projector.linear_2.bias").role, ParamRole::Projector);
  EXPECT_EQ(classify_param("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight").role, ParamRole::VisionTower);
  EXPECT_EQ(classify_param("language_model.model.embed_tokens.weight").role, ParamRole::Embeddings);
  EXPECT_EQ(classify_param("language_model.model.norm.weight").role, ParamRole::FinalNorm);
  EXPECT_EQ(classify_param("language_model.lm_head.weight").role, ParamRole::LmHead);
}

TEST(TrainableParams, StageRules) {
  FreezeSpec sft{"sft", "full", {1, 3}, true, false, true};
  EXPECT_TRUE(is_trainable("multi_modal_projector.linear_1.weight", sft));
  EXPECT_TRUE(is_trainable("language_model.model.layers.1.mlp.down_proj.weight", sft));
  EXPECT_TRUE(is_trainable("language_model.model.layers.3.input_layernorm.weight", sft));
  EXPECT_FALSE(is_trainable("language_model.model.layers.2.mlp.down_proj.weight", sft));
  EXPECT_FALSE(is_trainable("language_model.model.layers.11.mlp.down_proj.weight", sft));  // not "1" by prefix
  EXPECT_FALSE(is_trainable("language_model.lm_head.weight", sft));
  EXPECT_FALSE(is_trainable("vision_tower.vision_model.w", sft));
  sft.train_norms = false;
  EXPECT_FALSE(is_trainable("language_model.model.layers.3.input_layernorm.weight", sft));

  FreezeSpec lora{"sft", "lora", {1}, true, false, true};
  EXPECT_FALSE(is_trainable("language_model.model.layers.1.mlp.down_proj.weight", lora));
  EXPECT_TRUE(is_trainable("language_model.model.layers.1.mlp.down_proj.lora_B.weight", lora));
  EXPECT_FALSE(is_trainable("language_model.model.layers.1.input_layernorm.weight", lora));

  FreezeSpec pre{"pretrain", "full", {}, true, false, true};
  EXPECT_TRUE(is_trainable("multi_modal_projector.linear_2.weight", pre));
  EXPECT_FALSE(is_trainable("language_model.model.layers.0.mlp.down_proj.weight", pre));

  FreezeSpec full{"full", "full", {}, true, false, false};
  EXPECT_TRUE(is_trainable("language_model.model.layers.0.mlp.down_proj.weight", full));
  EXPECT_TRUE(is_trainable("vision_tower.vision_model.w", full));
  EXPECT_FALSE(is_trainable("language_model.model.embed_tokens.weight", full));
  full.train_embeddings = true;
  EXPECT_TRUE(is_trainable("language_model.model.embed_tokens.weight", full));
  EXPECT_TRUE(is_trainable("language_model.lm_head.weight", full));

  // Healing a pruned model: lm_head + the listed layers, projector frozen.
  FreezeSpec heal{"sft", "full", {4, 5}, true, false, true, /*train_lm_head=*/true, /*train_projector=*/false};
  EXPECT_TRUE(is_trainable("language_model.lm_head.weight", heal));
  EXPECT_TRUE(is_trainable("language_model.model.layers.5.mlp.down_proj.weight", heal));
  EXPECT_FALSE(is_trainable("language_model.model.layers.3.mlp.down_proj.weight", heal));
  EXPECT_FALSE(is_trainable("multi_modal_projector.linear_1.weight", heal));
  EXPECT_FALSE(is_trainable("language_model.model.embed_tokens.weight", heal));
  heal.stage = "pretrain";  // pretrain trains the projector only, whatever train_lm_head says
  EXPECT_FALSE(is_trainable("language_model.lm_head.weight", heal));
}

TEST(TrainableParams, ApplyFreezeSetsRequiresGradAndReportsLayers) {
  auto model = std::make_shared<vr::test::ToyLvlm>(8, 4);
  auto s = apply_freeze(*model, FreezeSpec{"sft", "full", {0, 2}, true, false, true});
  EXPECT_EQ(s.tuned_layers, (std::vector<int64_t>{0, 2}));
  // projector (w + b) + 2 layers × (norm + down_proj)
  EXPECT_EQ(s.trainable.size(), 2u + 2u * 2u);
  EXPECT_EQ(s.trainable_numel, 8 * 8 + 8 + 2 * (8 + 64));
  for (auto& kv : model->named_parameters()) {
    bool want = kv.key().rfind("multi_modal_projector", 0) == 0 || kv.key().find("layers.0.") != std::string::npos ||
                kv.key().find("layers.2.") != std::string::npos;
    EXPECT_EQ(kv.value().requires_grad(), want) << kv.key();
  }
  std::string table = trainable_table(*model);
  EXPECT_NE(table.find("layers.0"), std::string::npos) << table;
  EXPECT_NE(table.find("multi_modal_projector"), std::string::npos) << table;
  EXPECT_NE(table.find("total"), std::string::npos) << table;
}

TEST(TrainableParams, ApplyFreezeRejectsMissingLayers) {
  auto model = std::make_shared<vr::test::ToyLvlm>(8, 4);
  try {
    apply_freeze(*model, FreezeSpec{"sft", "full", {1, 9}, true, false, true});
    FAIL() << "expected an error";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 9"), std::string::npos) << e.what();
  }
  EXPECT_THROW(apply_freeze(*model, FreezeSpec{"sft", "lora", {1}, true, false, true}), vr::Error);  // no adapters
}

// Frozen parameters must receive no gradient at all (autograd skips their weight-gradient computation).
TEST(TrainableParams, FrozenParamsGetNoGradient) {
  auto model = std::make_shared<vr::test::ToyLvlm>(8, 4);
  apply_freeze(*model, FreezeSpec{"sft", "full", {3}, true, false, true});
  auto loss = model->forward(torch::randn({2, 8}), 0.0).pow(2).mean();
  loss.backward();
  for (auto& kv : model->named_parameters())
    EXPECT_EQ(kv.value().grad().defined(), kv.value().requires_grad()) << kv.key();
}

}  // namespace train_trainable_params_test
