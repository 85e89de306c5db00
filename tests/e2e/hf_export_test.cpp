// Every kind of checkpoint vrtrain writes loads in Hugging Face transformers 4.44.2 and computes there what vrtrain
// computes (issue 13, "Exports that transformers misreads"): from_pretrained reports no missing, unexpected or
// mismatched key, and the logits equal those of `vrtrain forward` in the model_fp32 class (atol 1e-4, rtol 1e-4:
// the same CPU kernels on both sides, observed differences ~1e-6); where generation is compared, the greedy ids of
// `vrtrain generate` are identical. Kinds: train final/ after a selective, a full and a LoRA run (merged: no
// lora_A/lora_B keys), the LoRA run's PEFT adapter on its base model through `peft` (its logits against the merged
// final/: merging W + s·B·A reorders float sums, well inside the tolerance), `prune` of an LVLM and of a Llama, and
// `convert` of original-layout Bunny (SigLIP, "patch": all patches) and LLaVA (CLIP, "patch" and "cls_patch")
// checkpoints, whose llava-hf configs must name the feature strategy that keeps vrtrain's merged length.
// Transformers runs through the Python oracle (tests/e2e/hf_load_compare.py, one process per test); skipped where
// it is absent, and the PEFT case alone is skipped (with a message) where `peft` is not importable.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "support/python_oracle.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/tensor_files.h"

namespace e2e_hf_export_test {

namespace {

namespace fs = std::filesystem;
using vr::test::run_vrtrain;

// One comparison: transformers loads `hf_model` (plus a PEFT `adapter`) and runs `hf_inputs`; vrtrain runs
// `vr_model` on `vr_inputs` (the same batch, with -200 for the image where vr_model is in the original layout).
struct HfExportCase {
  std::string hf_model, hf_inputs, vr_model, vr_inputs;
  std::string adapter;
  int max_new_tokens = 0;  // > 0: greedy ids compared too
  nlohmann::json expect = nlohmann::json::object();  // config fields transformers must read
  int64_t merged_length = -1;  // >= 0: the logits' sequence length (text + image features), checked
};

// Runs transformers once for all cases, then vrtrain per case, and compares.
void hf_export_compare(const std::vector<HfExportCase>& cases, const std::string& dir) {
  nlohmann::json spec = nlohmann::json::array();
  for (size_t i = 0; i < cases.size(); ++i) {
    nlohmann::json c = {{"model", cases[i].hf_model}, {"inputs", cases[i].hf_inputs},
                        {"output", fmt::format("{}/hf{}.safetensors", dir, i)},
                        {"max_new_tokens", cases[i].max_new_tokens}, {"expect", cases[i].expect}};
    if (!cases[i].adapter.empty()) c["adapter"] = cases[i].adapter;
    spec.push_back(c);
  }
  vr::atomic_write_file(dir + "/cases.json", spec.dump(2));
  auto py = vr::test::run_oracle_python(std::string(VR_SOURCE_DIR) + "/tests/e2e/hf_load_compare.py " + dir +
                                        "/cases.json", dir);
  ASSERT_EQ(py.exit_code, 0) << py.output;

  for (size_t i = 0; i < cases.size(); ++i) {
    const HfExportCase& c = cases[i];
    const std::string label = c.hf_model + (c.adapter.empty() ? "" : " + adapter " + c.adapter);
    const std::string hf_file = fmt::format("{}/hf{}.safetensors", dir, i);
    if (!fs::exists(hf_file)) {  // only the PEFT case may be skipped, and says so
      const auto why = py.output.find("SKIP " + hf_file);
      ASSERT_FALSE(c.adapter.empty() || why == std::string::npos) << label << ": no output\n" << py.output;
      std::cout << "[  SKIPPED ] " << label << ": " << py.output.substr(why, py.output.find('\n', why) - why) << "\n";
      continue;
    }
    const auto hf = vr::load_safetensors(hf_file);
    auto r = run_vrtrain(fmt::format("forward --model {} --inputs {} --output {}/vr{}.safetensors --threads 1 "
                                     "--no-hidden-states",
                                     c.vr_model, c.vr_inputs, dir, i),
                         dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto logits = vr::load_safetensors(fmt::format("{}/vr{}.safetensors", dir, i)).at("logits");
    if (c.merged_length >= 0) EXPECT_EQ(hf.at("logits").size(1), c.merged_length) << label;
    EXPECT_TRUE(vr::test::model_close(logits, hf.at("logits"), label + " logits"));
    if (c.max_new_tokens <= 0) continue;
    r = run_vrtrain(fmt::format("generate --model {} --inputs {} --output {}/gen{}.safetensors --threads 1 "
                                "--max-new-tokens {}",
                                c.vr_model, c.vr_inputs, dir, i, c.max_new_tokens),
                    dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto seq = vr::load_safetensors(fmt::format("{}/gen{}.safetensors", dir, i)).at("sequences");
    EXPECT_TRUE(torch::equal(seq, hf.at("sequences"))) << label << "\nvrtrain " << seq << "\nHF " << hf.at("sequences");
  }
}

// A 2-step run of the tiny LLaVA at <dir>/model (made on first use) with an overlay config; final/ is the export.
void hf_export_train(const std::string& dir, const std::string& overlay, const std::string& out,
                     const std::string& extra = "") {
  const std::string src = VR_SOURCE_DIR;
  auto r = run_vrtrain(fmt::format("train --config {0}/configs/tiny_synthetic.yaml {1} --set model.path={2}/model "
                                   "--set output_dir={2}/{3} --set train.max_steps=2 --set train.save_every=0 "
                                   "--set train.batch_size=2 --set train.num_threads=1 --set data.num_workers=1 {4}",
                                   src, overlay.empty() ? "" : "--config " + src + "/configs/" + overlay, dir, out,
                                   extra),
                       dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// One prompt with one image placeholder (`image_id`) and a random image, as vrtrain forward/generate and
// transformers both take it.
void hf_export_lvlm_inputs(const std::string& path, int64_t image_id) {
  torch::manual_seed(3);
  vr::save_safetensors(path, {{"input_ids", torch::tensor(std::vector<int64_t>{1, 40, 41, image_id, 42, 43, 44}, torch::kLong).view({1, -1})},
                              {"attention_mask", torch::ones({1, 7}, torch::kLong)},
                              {"pixel_values", torch::randn({1, 3, 56, 56})}});
}

TEST(HfExport, TrainedPrunedAndAdapterCheckpointsLoadInTransformersWithTheSameOutputs) {
  VR_REQUIRE_ORACLE();
  VR_REQUIRE_FIXTURE("llama_gqa");
  const std::string dir = vr::test::temp_dir("hf_export");
  const std::string src = VR_SOURCE_DIR;

  // Selective (the paper's 2 of 8 layers), full and LoRA runs of the same tiny model.
  ASSERT_NO_FATAL_FAILURE(hf_export_train(dir, "", "run"));
  ASSERT_NO_FATAL_FAILURE(hf_export_train(dir, "tiny_full.yaml", "full"));
  // The LoRA run also trains the vision tower, so that its adapter holds both kinds of fully trained module.
  ASSERT_NO_FATAL_FAILURE(hf_export_train(dir, "tiny_lora.yaml", "lora", "--set train.freeze_vision_tower=false"));
  // The merged LoRA export holds only base tensors; its adapter carries the modules the run trained in full.
  for (const auto& [name, t] : vr::load_tensors(dir + "/lora/final"))
    EXPECT_EQ(name.find("lora_"), std::string::npos) << "merged export carries " << name;
  const auto adapter_cfg = vr::read_json_file(dir + "/lora/final/adapter/adapter_config.json");
  EXPECT_EQ(adapter_cfg["modules_to_save"], nlohmann::json::array({"multi_modal_projector", "vision_tower"}));
  EXPECT_EQ(adapter_cfg["base_model_name_or_path"], dir + "/model");

  // The paper's pruning of the selective run's final/: 2 layers outside its visual region, by block influence on
  // 4 calibration samples; and a bare Llama.
  // `vrtrain prune` of the selective run's final/ into dir/<out> with the README's config; its pruning.json.
  auto prune = [&](const std::string& out, const std::string& flags) {
    const auto res = run_vrtrain(fmt::format("prune --model {0}/run/final --output {0}/{2} {3} --config "
                                             "{1}/configs/tiny_synthetic.yaml", dir, src, out, flags), dir);
    EXPECT_EQ(res.exit_code, 0) << res.output;
    return vr::read_json_file(dir + "/" + out + "/pruning.json");
  };
  const std::string region = "--region " + dir + "/run --set selection.calibration_samples=4";
  const auto pj = prune("pruned", "--remove 2 --method region " + region);
  EXPECT_EQ(pj["method"], "region");
  EXPECT_EQ(pj["num_layers_after"], 6);
  for (const auto& l : pj["removed_layers"])  // never a layer the run trained
    for (const auto& k : pj["region"]) EXPECT_NE(l, k);
  // Gromov et al.: the block of 2 consecutive layers outside the region with the lowest angular distance.
  const auto pa = prune("angular", "--remove 2 --method angular " + region);
  EXPECT_EQ(pa["method"], "angular");
  EXPECT_EQ(pa["angular_block"], 2);
  ASSERT_EQ(pa["removed_layers"].size(), 2u);
  EXPECT_EQ(pa["removed_layers"][1].get<int64_t>(), pa["removed_layers"][0].get<int64_t>() + 1);  // one block
  for (const auto& l : pa["removed_layers"])
    for (const auto& k : pa["region"]) EXPECT_NE(l, k);
  EXPECT_EQ(pa["kept_new_index"].size(), 6u);
  // Healing: prune the last 2 layers, then train lm_head + the last 2 remaining layers for 2 steps.
  const auto ph = prune("healed", "--remove 2 --method heal --heal-method last --heal-layers 2 --heal-steps 2 --set "
                               "train.batch_size=2 --set train.num_threads=1 --set data.num_workers=1");
  EXPECT_EQ(ph["method"], "heal");
  EXPECT_EQ(ph["removed_layers"], nlohmann::json::array({6, 7}));
  EXPECT_EQ(ph["heal"]["prune_method"], "last");
  EXPECT_EQ(ph["heal"]["steps"], 2);
  EXPECT_EQ(ph["heal"]["tuned_layers_new_index"], nlohmann::json::array({4, 5}));
  {  // what trained changed, nothing else did
    auto healed = vr::load_tensors(dir + "/healed"), unhealed = vr::load_tensors(dir + "/healed.heal/pruned");
    for (const char* n : {"language_model.lm_head.weight", "language_model.model.layers.5.mlp.down_proj.weight",
                          "language_model.model.layers.4.self_attn.q_proj.weight"})
      EXPECT_FALSE(torch::equal(healed.at(n), unhealed.at(n))) << n << " did not train";
    for (const char* n : {"language_model.model.layers.3.mlp.down_proj.weight", "multi_modal_projector.linear_1.weight",
                          "language_model.model.embed_tokens.weight"})
      EXPECT_TRUE(torch::equal(healed.at(n), unhealed.at(n))) << n << " changed";
  }
  auto r = run_vrtrain(fmt::format("prune --model {} --output {}/llama --remove-layers 1",
                              vr::test::fixtures_dir() + "/llama_gqa", dir),
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Inputs: one prompt with one image for the LVLMs, a left-padded pair for the Llama.
  const int64_t image_id = vr::read_json_file(dir + "/run/final/config.json")["image_token_index"].get<int64_t>();
  const std::string lvlm_in = dir + "/lvlm_in.safetensors", llama_in = dir + "/llama_in.safetensors";
  hf_export_lvlm_inputs(lvlm_in, image_id);
  vr::save_safetensors(llama_in, {{"input_ids", torch::tensor({{0, 0, 1, 17, 18}, {1, 20, 21, 22, 23}}, torch::kLong)},
                                  {"attention_mask", torch::tensor({{0, 0, 1, 1, 1}, {1, 1, 1, 1, 1}}, torch::kLong)}});

  auto same = [](const std::string& model, const std::string& in, int gen) {
    HfExportCase c{model, in, model, in};
    c.max_new_tokens = gen;
    return c;
  };
  std::vector<HfExportCase> cases{same(dir + "/run/final", lvlm_in, 5), same(dir + "/full/final", lvlm_in, 0),
                                  same(dir + "/lora/final", lvlm_in, 5), same(dir + "/pruned", lvlm_in, 5),
                                  same(dir + "/angular", lvlm_in, 5), same(dir + "/healed", lvlm_in, 5),
                                  same(dir + "/llama", llama_in, 5)};
  // PEFT: the adapter on the base model the run started from runs the merged final/'s model.
  HfExportCase peft{dir + "/model", lvlm_in, dir + "/lora/final", lvlm_in};
  peft.adapter = dir + "/lora/final/adapter";
  cases.push_back(peft);
  hf_export_compare(cases, dir);
}

// The original layout as LLaVA / Bunny ship it, made from a tiny llava-hf model: original names, no
// image_token_index (the placeholder -200), the tower named by mm_vision_tower (here a local CLIPVisionModel /
// SiglipVisionModel directory) with its weights in the checkpoint (Bunny) or only there (LLaVA-1.5), the
// tokenizer beside it.
void hf_export_original_layout(const std::string& dir, const std::string& hf, const std::string& out,
                               bool tower_weights_inside) {
  auto r = run_vrtrain(fmt::format("convert --input {0}/{1} --output {0}/{2} --layout llava", dir, hf, out), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string tower = dir + "/" + out + "_tower", orig = dir + "/" + out;
  const std::string prefix = "model.vision_tower.vision_tower.";
  vr::StateDict weights, tower_weights;
  for (auto& [name, t] : vr::load_safetensors(orig + "/model.safetensors")) {
    if (name.rfind(prefix, 0) == 0) tower_weights[name.substr(prefix.size())] = t;
    if (name.rfind(prefix, 0) != 0 || tower_weights_inside) weights[name] = t;
  }
  ASSERT_FALSE(tower_weights.empty());
  auto cfg = vr::load_config_json(orig);
  auto tower_cfg = cfg.at("vision_config");
  fs::create_directories(tower);
  vr::atomic_write_file(tower + "/config.json", tower_cfg.dump(2));
  vr::save_safetensors(tower + "/model.safetensors", tower_weights);
  vr::save_safetensors(orig + "/model.safetensors", weights);
  cfg.erase("vision_config");
  cfg.erase("image_token_index");
  cfg["mm_vision_tower"] = tower;
  vr::atomic_write_file(orig + "/config.json", cfg.dump(2));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(dir + "/" + hf + "/" + f, orig + "/" + f);
}

TEST(HfExport, ConvertedOriginalLayoutsLoadInTransformersWithTheSameOutputs) {
  VR_REQUIRE_ORACLE();
  const std::string dir = vr::test::temp_dir("hf_export_convert");
  // 56x56 pixels, 14-pixel patches: 16 patches; CLIP adds a CLS token, SigLIP has none. 7 prompt ids, 1 image.
  for (const char* family : {"bunny", "llava"}) {
    auto r = run_vrtrain(fmt::format("make-tiny --family {0} --output {1}/{0}_hf0", family, dir), dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  ASSERT_NO_FATAL_FAILURE(hf_export_original_layout(dir, "bunny_hf0", "bunny", /*tower_weights_inside=*/true));
  ASSERT_NO_FATAL_FAILURE(hf_export_original_layout(dir, "llava_hf0", "llava", /*tower_weights_inside=*/false));
  ASSERT_EQ(vr::load_config_json(dir + "/bunny")["mm_vision_select_feature"], "patch");
  ASSERT_EQ(vr::load_config_json(dir + "/llava")["mm_vision_select_feature"], "patch");
  fs::copy(dir + "/llava", dir + "/llava_cls", fs::copy_options::recursive);  // same weights, CLS feature kept
  auto cfg = vr::load_config_json(dir + "/llava_cls");
  cfg["mm_vision_select_feature"] = "cls_patch";
  vr::atomic_write_file(dir + "/llava_cls/config.json", cfg.dump(2));

  struct Variant {
    std::string name, strategy;
    int64_t features;
  };
  std::vector<HfExportCase> cases;
  for (const Variant& v : {Variant{"bunny", "full", 16}, Variant{"llava", "default", 16}, Variant{"llava_cls", "full", 17}}) {
    auto r = run_vrtrain(fmt::format("convert --input {0}/{1} --output {0}/{1}_hf", dir, v.name), dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto hf_cfg = vr::load_config_json(dir + "/" + v.name + "_hf");
    const int64_t image_id = hf_cfg.at("image_token_index").get<int64_t>();
    EXPECT_GE(image_id, 0) << v.name;  // a vocabulary id, never -200
    EXPECT_LT(image_id, hf_cfg.at("text_config").at("vocab_size").get<int64_t>()) << v.name;
    hf_export_lvlm_inputs(dir + "/" + v.name + "_hf_in.safetensors", image_id);
    hf_export_lvlm_inputs(dir + "/" + v.name + "_in.safetensors", -200);
    HfExportCase c{dir + "/" + v.name + "_hf", dir + "/" + v.name + "_hf_in.safetensors", dir + "/" + v.name,
                   dir + "/" + v.name + "_in.safetensors"};
    c.expect = {{"vision_feature_select_strategy", v.strategy}};
    c.merged_length = 6 + v.features;
    cases.push_back(c);
  }
  hf_export_compare(cases, dir);
}

}  // namespace

}  // namespace e2e_hf_export_test
