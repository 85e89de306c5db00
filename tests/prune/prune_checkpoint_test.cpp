// Pruned checkpoints vs what Hugging Face itself saves (fixtures pruning/llama_gqa and pruning/llava_siglip):
// tensors bit-identical (exact: they are the source's bytes renamed), config.json byte-identical to the fixture's
// (the source's with only num_hidden_layers changed), generation_config.json the source's bytes; the pruned
// model's forward in the model_fp32 class (atol 1e-4, rtol 1e-4) and its loss in the loss class (rtol 1e-5).
#include <filesystem>
#include <type_traits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/model/layouts.h"
#include "vr/model/llama.h"
#include "vr/model/lvlm.h"
#include "vr/prune/prune_checkpoint.h"

namespace prune_prune_checkpoint_test {

namespace fs = std::filesystem;
using namespace vr::prune;

namespace {

std::string fx(const std::string& rel) { return vr::test::fixtures_dir() + "/" + rel; }

void expect_same_tensors(const std::string& got_file, const std::string& want_file) {
  auto got = vr::load_safetensors(got_file), want = vr::load_safetensors(want_file);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(got.count(name)) << "missing " << name;
    EXPECT_EQ(got.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(got.at(name), t)) << name;  // exact
  }
  std::printf("[measured] %s: file bytes %s the fixture's\n", fs::path(got_file).parent_path().filename().c_str(),
              vr::read_file(got_file) == vr::read_file(want_file) ? "identical to" : "differ from (tensors equal)");
}

// The pruned model's forward on a fixture's inputs (ids, mask, labels; pixel_values for an LVLM) against the pruning
// fixture's forward.logits (model tolerances) and forward.loss (1e-5 relative).
template <class Inputs, class Model>
void expect_forward_matches(Model model, const std::string& inputs, const std::string& expected) {
  auto in = vr::load_safetensors(fx(inputs)), ex = vr::load_safetensors(fx(expected));
  Inputs li;
  li.input_ids = in.at("input_ids");
  li.attention_mask = in.at("attention_mask");
  li.labels = in.at("labels");
  if constexpr (std::is_same_v<Inputs, vr::model::LvlmInputs>) li.pixel_values = in.at("pixel_values");
  torch::NoGradGuard ng;
  auto o = model->forward(li);
  EXPECT_TRUE(vr::test::model_close(o.logits, ex.at("forward.logits"), "forward.logits"));
  EXPECT_TRUE(vr::test::all_close(o.loss, ex.at("forward.loss"), 0, 1e-5, "forward.loss"));
}

}  // namespace

TEST(PruneCheckpoint, LlamaMatchesWhatHfSaves) {
  VR_REQUIRE_FIXTURE("pruning/llama_gqa");
  const std::string out = vr::test::temp_dir("prune_llama") + "/pruned";
  auto report = write_pruned_checkpoint(fx("llama_gqa"), out, choose_explicit({1}, 3));
  EXPECT_EQ(report.layout, "llama");
  expect_same_tensors(out + "/model.safetensors", fx("pruning/llama_gqa/model.safetensors"));
  EXPECT_EQ(vr::read_file(out + "/config.json"), vr::read_file(fx("pruning/llama_gqa/config.json")));
  EXPECT_EQ(vr::read_file(out + "/generation_config.json"), vr::read_file(fx("llama_gqa/generation_config.json")));
  // Every other file of the source was copied (the fixture folder holds inputs/expected tensors as extras).
  for (const char* f : {"inputs.safetensors", "expected.safetensors"})
    EXPECT_EQ(vr::read_file(out + "/" + f), vr::read_file(fx(std::string("llama_gqa/") + f))) << f;

  auto pj = vr::read_json_file(out + "/pruning.json");
  EXPECT_EQ(pj["removed_layers"], nlohmann::json::array({1}));
  EXPECT_EQ(pj["kept_layers"], nlohmann::json::array({0, 2}));
  EXPECT_EQ(pj["parameters_before"], 171456);
  EXPECT_EQ(pj["parameters_before"].get<int64_t>() - pj["parameters_after"].get<int64_t>(),
            2 * 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 64 * 176);  // one layer: 2 norms, q, k, v, o, 3 MLP

  // The pruned model's forward = HF's.
  torch::set_num_threads(1);
  expect_forward_matches<vr::model::LlamaInputs>(vr::model::load_llama(out), "llama_gqa/inputs.safetensors",
                                                 "pruning/llama_gqa/expected.safetensors");
}

TEST(PruneCheckpoint, LlavaMatchesWhatHfSaves) {
  VR_REQUIRE_FIXTURE("pruning/llava_siglip");
  const std::string out = vr::test::temp_dir("prune_llava") + "/pruned";
  auto report = write_pruned_checkpoint(fx("layer_scores/llava_siglip"), out, choose_explicit({3, 1}, 5));
  EXPECT_EQ(report.layout, "llava-hf");
  expect_same_tensors(out + "/model.safetensors", fx("pruning/llava_siglip/model.safetensors"));
  EXPECT_EQ(vr::read_file(out + "/config.json"), vr::read_file(fx("pruning/llava_siglip/config.json")));
  EXPECT_EQ(vr::read_file(out + "/generation_config.json"),
            vr::read_file(fx("layer_scores/llava_siglip/generation_config.json")));
  // vision_config.num_hidden_layers (3) is not the decoder's and stays.
  auto cfg = vr::read_json_file(out + "/config.json");
  EXPECT_EQ(cfg["text_config"]["num_hidden_layers"], 3);
  EXPECT_EQ(cfg["vision_config"]["num_hidden_layers"], 3);

  torch::set_num_threads(1);
  expect_forward_matches<vr::model::LvlmInputs>(vr::model::load_lvlm(out),
                                                "layer_scores/llava_siglip/inputs.safetensors",
                                                "pruning/llava_siglip/expected.safetensors");
}

TEST(PruneCheckpoint, ShardedWeightsStayShardedAndFailuresLeaveNoOutput) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  const std::string dir = vr::test::temp_dir("prune_sharded");
  // A sharded copy of llama_gqa: layers 0-1 in shard 1, the rest in shard 2.
  auto all = vr::load_safetensors(fx("llama_gqa/model.safetensors"));
  std::map<std::string, at::Tensor> s1, s2;
  nlohmann::json idx{{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const auto& [n, t] : all) {
    const bool first = n.rfind("model.layers.0.", 0) == 0 || n.rfind("model.layers.1.", 0) == 0;
    (first ? s1 : s2)[n] = t;
    idx["weight_map"][n] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  const std::string src = dir + "/src";
  fs::create_directories(src);
  fs::copy_file(fx("llama_gqa/config.json"), src + "/config.json");
  vr::save_safetensors(src + "/model-00001-of-00002.safetensors", s1);
  vr::save_safetensors(src + "/model-00002-of-00002.safetensors", s2);
  vr::atomic_write_file(src + "/model.safetensors.index.json", idx.dump(2));

  auto report = write_pruned_checkpoint(src, dir + "/out", choose_explicit({1}, 3));
  EXPECT_EQ(report.weight_files.size(), 2u);
  auto index = vr::read_json_file(dir + "/out/model.safetensors.index.json");
  EXPECT_EQ(index["weight_map"]["model.layers.1.mlp.up_proj.weight"], "model-00002-of-00002.safetensors");
  EXPECT_FALSE(index["weight_map"].contains("model.layers.2.mlp.up_proj.weight"));
  auto pruned = vr::model::load_llama(dir + "/out");
  auto fixture = vr::load_safetensors(fx("pruning/llama_gqa/model.safetensors"));
  for (auto& kv : pruned->named_parameters()) EXPECT_TRUE(torch::equal(kv.value(), fixture.at(kv.key()))) << kv.key();

  // A layer choice made for another model: an error, and no output directory.
  EXPECT_THROW(write_pruned_checkpoint(src, dir + "/bad", choose_explicit({1}, 4)), vr::Error);
  EXPECT_FALSE(fs::exists(dir + "/bad"));
  EXPECT_THROW(write_pruned_checkpoint(src, src, choose_explicit({1}, 3)), vr::Error);
}

// An original LLaVA-layout checkpoint is written as llava-hf; the result equals pruning the llava-hf original.
TEST(PruneCheckpoint, OriginalLlavaLayoutBecomesLlavaHf) {
  VR_REQUIRE_FIXTURE("llava");
  const std::string dir = vr::test::temp_dir("prune_orig");
  auto src = vr::model::load_lvlm(fx("llava"));
  vr::model::save_lvlm_llava(src, dir + "/orig");
  auto report = write_pruned_checkpoint(dir + "/orig", dir + "/a", choose_explicit({1}, 3));
  EXPECT_EQ(report.layout, "llava");
  EXPECT_EQ(vr::read_json_file(dir + "/a/config.json")["text_config"]["num_hidden_layers"], 2);
  write_pruned_checkpoint(fx("llava"), dir + "/b", choose_explicit({1}, 3));
  auto a = vr::model::load_lvlm(dir + "/a"), b = vr::model::load_lvlm(dir + "/b");
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& kv : pb) EXPECT_TRUE(torch::equal(pa[kv.key()], kv.value())) << kv.key();
}

}  // namespace prune_prune_checkpoint_test
