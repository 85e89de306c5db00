// Checkpoint layouts: save → load round trips (bit-exact) in llava-hf, original LLaVA/Bunny and "parts" form,
// stage-1 projector pickles, and the name mapping.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fmt/format.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/torch_pickle.h"
#include "vr/model/layouts.h"
#include "vr/model/module_state.h"

namespace model_layouts_test {

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

// transformers embeds every input id before splicing the image in, so a llava-hf config.json must carry a
// vocabulary id for the image token, never the LLaVA/Bunny placeholder -200 — in save_lvlm (final/ exports)
// and in `vrtrain convert` alike.
TEST(Layouts, ImageTokenIdInHfConfigIsAlwaysAVocabularyId) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = fixture_model();  // vocab 288, image token 256
  const auto root = vr::test::temp_dir("image_token_id");
  // An original-layout (Bunny-style) checkpoint without image_token_index: the placeholder -200 in memory.
  save_lvlm_llava(model, root + "/orig");
  auto cfg = vr::load_config_json(root + "/orig");
  cfg.erase("image_token_index");
  vr::save_checkpoint(root + "/bunny", cfg, vr::load_tensors(root + "/orig"));
  auto bunny = load_lvlm(root + "/bunny");
  ASSERT_EQ(bunny->config().image_token_index, kLlavaImageTokenIndex);
  save_lvlm_llava(bunny, root + "/bunny_again");  // the original layout keeps -200 implicit (LLaVA's constant)
  EXPECT_FALSE(vr::load_config_json(root + "/bunny_again").contains("image_token_index"));

  // No tokenizer to take an id from: an error, not a config with -200.
  EXPECT_THROW(save_lvlm(bunny, root + "/no_tokenizer"), vr::Error);
  // A Llama-3-style tokenizer (reserved special tokens, no <image>): the highest reserved id below the vocabulary.
  nlohmann::json tok = {{"added_tokens", nlohmann::json::array()}};
  for (int64_t id : {250, 251, 252}) tok["added_tokens"].push_back({{"id", id}, {"content", fmt::format("<|reserved_special_token_{}|>", id - 250)}});
  tok["added_tokens"].push_back({{"id", 300}, {"content", "<|reserved_special_token_9|>"}});  // beyond vocab 288
  vr::atomic_write_file(root + "/bunny/tokenizer.json", tok.dump());
  save_lvlm(bunny, root + "/hf_reserved", root + "/bunny");
  EXPECT_EQ(vr::load_config_json(root + "/hf_reserved")["image_token_index"], 252);
  // An <image> token wins (tokenizer_config.json's added_tokens_decoder is read when tokenizer.json has none).
  std::filesystem::remove(root + "/bunny/tokenizer.json");
  nlohmann::json tc = {{"added_tokens_decoder", {{"251", {{"content", "<|reserved_special_token_1|>"}}},
                                                  {"260", {{"content", "<image>"}}}}}};
  vr::atomic_write_file(root + "/bunny/tokenizer_config.json", tc.dump());
  EXPECT_EQ(hf_image_token_index(bunny->config(), root + "/bunny"), 260);
  // The loaded llava-hf export runs the same model: its id maps back to image slots.
  auto back = load_lvlm(root + "/hf_reserved");
  EXPECT_EQ(back->config().image_token_index, 252);
  expect_same_weights(bunny, back);

  // `vrtrain convert` reads the tokenizer of its input.
  auto r = vr::test::run_vrtrain(fmt::format("convert --input '{}/bunny' --output '{}/converted'", root, root), root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(vr::load_config_json(root + "/converted")["image_token_index"], 260);
  std::filesystem::remove(root + "/bunny/tokenizer_config.json");
  r = vr::test::run_vrtrain(fmt::format("convert --input '{}/bunny' --output '{}/converted2'", root, root), root);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("vocabulary id for the image token"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(root + "/converted2"));
}

// Loading for bf16 builds the model in bf16 (no fp32 copy first) and on the requested device; the process-wide
// default dtype is switched only during the construction.
TEST(Layouts, LoadBuildsInTheTargetDtypeAndRestoresTheDefaultDtype) {
  VR_REQUIRE_FIXTURE("llava");
  auto model = fixture_model();
  auto half = load_lvlm(vr::test::fixtures_dir() + "/llava", torch::kBFloat16, c10::Device(c10::kCPU));
  EXPECT_EQ(c10::get_default_dtype(), caffe2::TypeMeta::Make<float>());
  auto full = module_state_dict(*model);
  for (auto& [name, t] : module_state_dict(*half)) {
    EXPECT_EQ(t.scalar_type(), torch::kBFloat16) << name;
    EXPECT_TRUE(torch::equal(t, full.at(name).to(torch::kBFloat16))) << name;
  }
}

}  // namespace model_layouts_test
