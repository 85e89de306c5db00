// Checkpoint directories: single and sharded save/load, index content, dtype conversion, key reports,
// atomic replacement.
#include "vr/core/tensor_files.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"

namespace core_tensor_files_test {

namespace fs = std::filesystem;

namespace {

vr::StateDict small_model() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  vr::StateDict sd;
  sd["model.embed_tokens.weight"] = at::randn({16, 8}, gen);          // 512 bytes
  sd["model.layers.0.mlp.up_proj.weight"] = at::randn({12, 8}, gen);  // 384 bytes
  sd["model.layers.0.input_layernorm.weight"] = at::randn({8}, gen);  // 32 bytes
  sd["model.norm.weight"] = at::randn({8}, gen);                      // 32 bytes
  sd["lm_head.weight"] = at::randn({16, 8}, gen);                     // 512 bytes
  sd["position_ids"] = at::arange(5, at::kLong);                      // 40 bytes
  return sd;
}

std::vector<std::string> dir_listing(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void expect_same(const vr::StateDict& a, const vr::StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(t.equal(b.at(name))) << name;
  }
}

}  // namespace

TEST(Checkpoint, SingleFileRoundTrip) {
  const std::string dir = vr::test::temp_dir("ckpt") + "/out";
  const nlohmann::json config = {{"model_type", "llama"}, {"hidden_size", 8}};
  vr::save_checkpoint(dir, config, small_model(), 1 << 20, {{"generation_config.json", {{"eos_token_id", 2}}}});
  EXPECT_EQ(dir_listing(dir),
            (std::vector<std::string>{"config.json", "generation_config.json", "model.safetensors"}));
  EXPECT_EQ(vr::load_config_json(dir), config);
  EXPECT_EQ(read_json(dir + "/generation_config.json")["eos_token_id"], 2);
  expect_same(vr::load_tensors(dir), small_model());
  // a path to the .safetensors file itself works too
  expect_same(vr::load_tensors(dir + "/model.safetensors"), small_model());
  // nothing left beside the directory
  EXPECT_EQ(dir_listing(fs::path(dir).parent_path().string()), std::vector<std::string>{"out"});
}

TEST(Checkpoint, ShardedSaveWithTinyLimitAndIndex) {
  const std::string dir = vr::test::temp_dir("ckpt") + "/sharded";
  // Sorted names and bytes: lm_head 512, embed 512, input_layernorm 32, up_proj 384, norm 32, position_ids 40.
  // Greedy packing under 600 bytes: [lm_head] [embed + input_layernorm = 544] [up_proj + norm + position_ids = 456].
  vr::save_checkpoint(dir, {{"a", 1}}, small_model(), 600);
  EXPECT_EQ(dir_listing(dir), (std::vector<std::string>{
                                  "config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                  "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  nlohmann::json index = read_json(dir + "/model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 512 + 384 + 32 + 32 + 512 + 40);
  EXPECT_EQ(index["weight_map"]["lm_head.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.layers.0.input_layernorm.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.layers.0.mlp.up_proj.weight"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.norm.weight"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["position_ids"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"].size(), 6u);
  for (int k = 1; k <= 3; ++k) {
    auto name = fmt::format("{}/model-{:05d}-of-00003.safetensors", dir, k);
    EXPECT_EQ(vr::SafetensorsFile(name).metadata().at("format"), "pt");
  }
  expect_same(vr::load_tensors(dir), small_model());

  // A tensor larger than the limit gets a shard of its own.
  const std::string dir2 = vr::test::temp_dir("ckpt") + "/big";
  vr::save_checkpoint(dir2, {}, {{"a", at::zeros({100})}, {"b", at::zeros({1})}}, 16);
  auto index2 = read_json(dir2 + "/model.safetensors.index.json");
  EXPECT_EQ(index2["weight_map"]["a"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(index2["weight_map"]["b"], "model-00002-of-00002.safetensors");
}

TEST(Checkpoint, ShardedIndexInconsistenciesAreErrors) {
  const std::string dir = vr::test::temp_dir("ckpt") + "/s";
  vr::save_checkpoint(dir, {}, small_model(), 600);
  const std::string index_path = dir + "/model.safetensors.index.json";
  const nlohmann::json good = read_json(index_path);
  auto expect_error = [&](const nlohmann::json& index, const std::string& needle) {
    std::ofstream(index_path) << index.dump();
    try {
      vr::load_tensors(dir);
      ADD_FAILURE() << "accepted index " << index.dump();
    } catch (const vr::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  nlohmann::json j = good;
  j["weight_map"]["ghost.weight"] = "model-00001-of-00003.safetensors";
  expect_error(j, "'ghost.weight'");
  j = good;
  j["weight_map"].erase("model.norm.weight");
  expect_error(j, "'model.norm.weight'");
  j = good;
  j["weight_map"]["model.norm.weight"] = "../elsewhere.safetensors";
  expect_error(j, "file name");
  j = good;
  j["weight_map"]["ghost.weight"] = "model-00009-of-00009.safetensors";
  expect_error(j, "model-00009-of-00009.safetensors");
  expect_error(nlohmann::json::array(), "weight_map");
  std::ofstream(index_path) << "{not json";
  EXPECT_THROW(vr::load_tensors(dir), vr::Error);
}

TEST(Checkpoint, DTypeConversionOnlyTouchesFloatingTensors) {
  const std::string dir = vr::test::temp_dir("ckpt") + "/d";
  vr::save_checkpoint(dir, {}, small_model());
  auto sd = vr::load_tensors(dir, at::kBFloat16);
  EXPECT_EQ(sd.at("lm_head.weight").scalar_type(), at::kBFloat16);
  EXPECT_EQ(sd.at("position_ids").scalar_type(), at::kLong);
  EXPECT_TRUE(sd.at("lm_head.weight").equal(small_model().at("lm_head.weight").to(at::kBFloat16)));
}

TEST(Checkpoint, MissingFilesAreNamed) {
  const std::string dir = vr::test::temp_dir("ckpt");
  EXPECT_NE(vr::test::error_of([&] { vr::load_tensors(dir); }).find("model.safetensors"), std::string::npos);
  std::ofstream(dir + "/pytorch_model.bin") << "x";
  EXPECT_NE(vr::test::error_of([&] { vr::load_tensors(dir); }).find("convert"), std::string::npos);
  EXPECT_THROW(vr::load_tensors(dir + "/nope"), vr::Error);
  EXPECT_THROW(vr::load_config_json(dir), vr::Error);
  std::ofstream(dir + "/config.json") << "{\"a\": ";
  EXPECT_NE(vr::test::error_of([&] { vr::load_config_json(dir); }).find("config.json"), std::string::npos);
}

TEST(Checkpoint, LoadsFixtureDirectory) {
  VR_REQUIRE_FIXTURE("llama_gqa/config.json");
  const std::string dir = vr::test::fixtures_dir() + "/llama_gqa";
  auto config = vr::load_config_json(dir);
  auto sd = vr::load_tensors(dir);
  EXPECT_EQ(sd.at("model.embed_tokens.weight").size(0), config["vocab_size"].get<int64_t>());
  EXPECT_EQ(sd.at("model.embed_tokens.weight").size(1), config["hidden_size"].get<int64_t>());
  // Re-save sharded and reload: identical tensors.
  const std::string out = vr::test::temp_dir("ckpt") + "/gqa";
  vr::save_checkpoint(out, config, sd, 100'000);
  EXPECT_TRUE(fs::exists(out + "/model.safetensors.index.json"));
  expect_same(vr::load_tensors(out), sd);
  EXPECT_EQ(vr::load_config_json(out), config);
}

TEST(Checkpoint, KeyReport) {
  vr::StateDict model = {{"a", at::zeros({2, 3})}, {"b", at::zeros({4})}, {"c", at::zeros({1})}};
  vr::StateDict ckpt = {{"a", at::zeros({3, 2})}, {"b", at::zeros({4})}, {"extra", at::zeros({1})}};
  vr::KeyReport r = vr::match_keys(ckpt, model);
  EXPECT_EQ(r.missing, std::vector<std::string>{"c"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"extra"});
  EXPECT_EQ(r.mismatched, std::vector<std::string>{"a: checkpoint [3, 2] vs model [2, 3]"});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.describe(), "1 missing: c; 1 with mismatched shapes: a: checkpoint [3, 2] vs model [2, 3]; "
                          "1 unexpected: extra");
  EXPECT_TRUE(vr::match_keys(model, model).ok());
  EXPECT_EQ(vr::match_keys(model, model).describe(), "all keys match");
  vr::KeyReport many;
  for (int i = 0; i < 5; ++i) many.missing.push_back("k" + std::to_string(i));
  EXPECT_EQ(many.describe(2), "5 missing: k0, k1, ... (3 more)");
  // unexpected keys alone do not make a report fail (e.g. rotary inv_freq buffers in old checkpoints)
  vr::KeyReport only_unexpected;
  only_unexpected.unexpected = {"x"};
  EXPECT_TRUE(only_unexpected.ok());
}

TEST(Checkpoint, ReplacesExistingDirectoryAndFailedSaveKeepsOldOne) {
  const std::string parent = vr::test::temp_dir("ckpt");
  const std::string dir = parent + "/c";
  vr::save_checkpoint(dir, {{"v", 1}}, {{"w", at::ones({3})}});
  std::ofstream(dir + "/stale.txt") << "old";
  vr::save_checkpoint(dir, {{"v", 2}}, {{"w", at::zeros({3})}});
  EXPECT_EQ(vr::load_config_json(dir)["v"], 2);
  EXPECT_FALSE(fs::exists(dir + "/stale.txt"));  // the directory is replaced as a whole
  EXPECT_TRUE(vr::load_tensors(dir).at("w").equal(at::zeros({3})));

  // A save that fails while writing tensor data leaves the previous checkpoint and no temp directories.
  vr::StateDict bad = {{"a", at::ones({2})}, {"z", at::empty({64}, at::device(at::kMeta))}};
  EXPECT_THROW(vr::save_checkpoint(dir, {{"v", 3}}, bad), vr::Error);
  EXPECT_EQ(vr::load_config_json(dir)["v"], 2);
  EXPECT_EQ(dir_listing(parent), std::vector<std::string>{"c"});
  // ... also when the target did not exist yet
  EXPECT_THROW(vr::save_checkpoint(parent + "/new", {}, bad), vr::Error);
  EXPECT_EQ(dir_listing(parent), std::vector<std::string>{"c"});
  // target is a file
  std::ofstream(parent + "/file") << "x";
  EXPECT_THROW(vr::save_checkpoint(parent + "/file", {}, {}), vr::Error);
  // extra file names must stay inside the directory
  EXPECT_THROW(vr::save_checkpoint(parent + "/e", {}, {}, 1 << 20, {{"../x.json", {}}}), vr::Error);
  EXPECT_FALSE(fs::exists(parent + "/e"));
}

TEST(Checkpoint, AtomicWriteFile) {
  const std::string dir = vr::test::temp_dir("ckpt");
  vr::atomic_write_file(dir + "/a.txt", "hello");
  vr::atomic_write_file(dir + "/a.txt", "bye");
  std::string s = vr::read_file(dir + "/a.txt");
  EXPECT_EQ(s, "bye");
  EXPECT_EQ(dir_listing(dir), std::vector<std::string>{"a.txt"});
  EXPECT_THROW(vr::atomic_write_file(dir + "/no/such/dir/a.txt", "x"), vr::Error);
}

}  // namespace core_tensor_files_test
