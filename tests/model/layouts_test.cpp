// Checkpoint layouts: save → load round trips (bit-exact) in llava-hf, original LLaVA/Bunny and "parts" form,
// stage-1 projector pickles, and the name mapping.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/core/torch_pickle.h"
#include "vr/model/layouts.h"
#include "vr/model/module_state.h"

namespace fs = std::filesystem;
using namespace vr::model;

namespace {

// Every parameter bit-equal (same names, dtypes, values).
void expect_same_weights(Lvlm& a, Lvlm& b) {
  auto sa = module_state_dict(*a), sb = module_state_dict(*b);
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [name, t] : sa) {
    ASSERT_TRUE(sb.count(name)) << name;
    EXPECT_EQ(t.scalar_type(), sb.at(name).scalar_type()) << name;
    EXPECT_TRUE(torch::equal(t, sb.at(name))) << name;
  }
}

std::string data_file(const std::string& name) { return std::string(VR_TEST_DATA_DIR) + "/torch_save/" + name; }

Lvlm fixture_model() { return load_lvlm(vr::test::fixtures_dir() + "/llava"); }

}  // namespace

TEST(Layouts, NameMapping) {
  EXPECT_EQ(llava_to_hf_name("model.mm_projector.0.weight"), "multi_modal_projector.linear_1.weight");
  EXPECT_EQ(llava_to_hf_name("model.mm_projector.2.bias"), "multi_modal_projector.linear_2.bias");
  EXPECT_EQ(llava_to_hf_name("model.vision_tower.vision_tower.vision_model.pre_layrnorm.weight"),
            "vision_tower.vision_model.pre_layrnorm.weight");
  EXPECT_EQ(llava_to_hf_name("model.layers.3.mlp.up_proj.weight"), "language_model.model.layers.3.mlp.up_proj.weight");
  EXPECT_EQ(llava_to_hf_name("lm_head.weight"), "language_model.lm_head.weight");
  EXPECT_EQ(llava_to_hf_name("model.layers.0.self_attn.rotary_emb.inv_freq"), "");
  for (std::string n : {"multi_modal_projector.linear_1.weight", "vision_tower.vision_model.embeddings.class_embedding",
                        "language_model.model.norm.weight", "language_model.lm_head.weight"})
    EXPECT_EQ(llava_to_hf_name(hf_to_llava_name(n)), n);
  EXPECT_EQ(hf_to_llava_name("multi_modal_projector.linear_1.weight", /*linear_projector=*/true), "model.mm_projector.weight");
  EXPECT_EQ(new_hf_to_hf_name("model.language_model.layers.0.mlp.up_proj.weight"),
            "language_model.model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(new_hf_to_hf_name("model.multi_modal_projector.linear_2.bias"), "multi_modal_projector.linear_2.bias");
  EXPECT_EQ(new_hf_to_hf_name("lm_head.weight"), "language_model.lm_head.weight");
}

TEST(Layouts, LlavaHfRoundTripIsBitExact) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = fixture_model();
  // The in-memory names are the llava-hf on-disk names.
  auto disk = vr::load_safetensors(vr::test::fixtures_dir() + "/llava/model.safetensors");
  auto mine = module_state_dict(*model);
  EXPECT_EQ(disk.size(), mine.size());
  for (auto& [name, t] : disk) EXPECT_TRUE(mine.count(name) && torch::equal(mine.at(name), t)) << name;

  auto dir = vr::test::temp_dir("llava_hf") + "/out";
  save_lvlm(model, dir);
  EXPECT_EQ(detect_layout(dir), LvlmLayout::kLlavaHf);
  auto cfg = vr::load_config_json(dir);
  EXPECT_EQ(cfg["model_type"], "llava");
  EXPECT_EQ(cfg["architectures"][0], "LlavaForConditionalGeneration");
  EXPECT_EQ(cfg["vision_config"]["model_type"], "clip_vision_model");
  EXPECT_EQ(cfg["image_token_index"], 256);
  auto back = load_lvlm(dir);
  expect_same_weights(model, back);
  EXPECT_EQ(back->config().to_json(), model->config().to_json());
}

TEST(Layouts, SiglipLlavaHfRoundTripKeepsHeadWeights) {
  VR_REQUIRE_FIXTURE("layer_scores/llava_siglip");
  auto model = load_lvlm(vr::test::fixtures_dir() + "/layer_scores/llava_siglip");
  auto dir = vr::test::temp_dir("siglip_hf") + "/out";
  save_lvlm(model, dir);
  auto saved = vr::load_tensors(dir);
  EXPECT_TRUE(saved.count("vision_tower.vision_model.head.attention.in_proj_weight"));
  EXPECT_EQ(saved.size(), 116u);  // as the fixture checkpoint
  auto back = load_lvlm(dir);
  expect_same_weights(model, back);
}

TEST(Layouts, OriginalLlavaRoundTripIsBitExact) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = fixture_model();
  auto dir = vr::test::temp_dir("llava_orig") + "/out";
  save_lvlm_llava(model, dir);
  EXPECT_EQ(detect_layout(dir), LvlmLayout::kLlava);
  auto saved = vr::load_tensors(dir);
  EXPECT_TRUE(saved.count("model.mm_projector.0.weight"));
  EXPECT_TRUE(saved.count("model.mm_projector.2.bias"));
  EXPECT_TRUE(saved.count("model.vision_tower.vision_tower.vision_model.embeddings.class_embedding"));
  EXPECT_TRUE(saved.count("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(saved.count("lm_head.weight"));
  auto cfg = vr::load_config_json(dir);
  EXPECT_EQ(cfg["mm_projector_type"], "mlp2x_gelu");
  EXPECT_EQ(cfg["mm_hidden_size"], 48);
  EXPECT_EQ(cfg["mm_vision_select_layer"], -2);
  auto back = load_lvlm(dir);
  expect_same_weights(model, back);
  EXPECT_EQ(back->config().image_token_index, 256);  // preserved through the vrtrain key

  // bf16 load converts every parameter.
  auto half = load_lvlm(dir, torch::kBFloat16);
  for (auto& p : half->parameters()) EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
}

TEST(Layouts, AssembledFromPartsEqualsTheWhole) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = fixture_model();
  const auto root = vr::test::temp_dir("parts");
  // An HF Llama directory.
  vr::StateDict llm;
  for (auto& [name, t] : module_state_dict(*model->language_model)) llm[name] = t;
  vr::save_checkpoint(root + "/llm", model->config().text.to_json(), llm);
  // A full CLIPModel-like directory: vision_model.* plus tensors the tower must ignore.
  vr::StateDict vis;
  for (auto& [name, t] : module_state_dict(*model->vision_tower)) vis[name] = t;
  vis["text_model.embeddings.token_embedding.weight"] = torch::ones({4, 3});
  vis["logit_scale"] = torch::ones({});
  nlohmann::json vcfg = {{"model_type", "clip"}, {"vision_config", model->config().vision.to_json()}};
  vr::save_checkpoint(root + "/clip", vcfg, vis);
  // The stage-1 projector file.
  save_projector_bin(model, root + "/mm_projector.bin");
  auto proj = vr::load_torch_pickle(root + "/mm_projector.bin");
  EXPECT_EQ(proj.size(), 4u);
  EXPECT_TRUE(torch::equal(proj.at("model.mm_projector.0.weight"), model->multi_modal_projector->linear_1->weight));

  LvlmLoadOptions o;
  o.path = root + "/llm";
  o.vision = root + "/clip";
  o.projector = root + "/mm_projector.bin";
  auto assembled = load_lvlm(o);
  expect_same_weights(model, assembled);
  EXPECT_EQ(assembled->config().image_token_index, kLlavaImageTokenIndex);

  // Without a projector file the projector is freshly initialised (stage-1 start); the rest is loaded.
  o.projector.clear();
  auto fresh = load_lvlm(o);
  EXPECT_TRUE(torch::equal(fresh->language_model->lm_head->weight, model->language_model->lm_head->weight));
  EXPECT_FALSE(torch::equal(fresh->multi_modal_projector->linear_1->weight, model->multi_modal_projector->linear_1->weight));

  // An original LLaVA directory without tower weights finds the tower through mm_vision_tower.
  auto orig = root + "/orig";
  save_lvlm_llava(model, orig);
  auto st = vr::load_tensors(orig);
  vr::StateDict no_tower;
  for (auto& [name, t] : st)
    if (name.rfind("model.vision_tower.", 0) != 0) no_tower[name] = t;
  auto cfg = vr::load_config_json(orig);
  cfg.erase("vision_config");
  cfg["mm_vision_tower"] = root + "/clip";
  vr::save_checkpoint(root + "/orig_no_tower", cfg, no_tower);
  auto from_tower_dir = load_lvlm(root + "/orig_no_tower");
  expect_same_weights(model, from_tower_dir);
  cfg["mm_vision_tower"] = "someone/unknown-tower";
  vr::save_checkpoint(root + "/orig_unknown", cfg, no_tower);
  EXPECT_THROW(load_lvlm(root + "/orig_unknown"), vr::Error);
}

TEST(Layouts, ProjectorFileFromPythonTorchSave) {
  auto proj = read_projector_file(data_file("mm_projector.bin"));
  ASSERT_EQ(proj.size(), 4u);
  EXPECT_TRUE(torch::equal(proj.at("linear_1.weight"), torch::tensor({1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f}).view({2, 3})));
  EXPECT_TRUE(proj.count("linear_2.bias"));
  EXPECT_THROW(read_projector_file(data_file("not_a_dict.bin")), vr::Error);
}
