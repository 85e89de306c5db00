// LoRA adapters: PEFT initialisation and semantics, merge/unmerge, PEFT export / load.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/model/lora.h"
#include "vr/model/vision_tower.h"

namespace model_lora_test {

namespace fs = std::filesystem;
using namespace vr::model;

namespace {

VisionConfig tiny_vision() {
  VisionConfig c;
  c.hidden_size = 16; c.intermediate_size = 24; c.num_hidden_layers = 2; c.num_attention_heads = 2;
  c.image_size = 28; c.patch_size = 14;
  return c;
}

VisionTower tiny_tower(uint64_t seed) {
  torch::manual_seed(seed);
  return VisionTower(tiny_vision(), -1, "cls_patch");
}

LoraConfig config(double dropout = 0.0) {
  LoraConfig c;
  c.r = 4;
  c.alpha = 8;
  c.dropout = dropout;
  c.target_modules = {"vision_model.encoder.layers.1.self_attn.q_proj", "fc1"};
  return c;
}

void randomise_b(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& kv : m.named_parameters())
    if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.5);
}

}  // namespace

TEST(Lora, ZeroBReproducesTheBaseExactlyAndInitFollowsPeft) {
  auto tower = tiny_tower(1);
  auto x = torch::randn({2, 3, 28, 28});
  auto base = tower->forward(x).features;
  auto wrapped = apply_lora(*tower, config(), /*seed=*/234);
  // Suffix "fc1" matches both layers; the full name matches one q_proj.
  EXPECT_EQ(wrapped, (std::vector<std::string>{"vision_model.encoder.layers.0.mlp.fc1",
                                               "vision_model.encoder.layers.1.mlp.fc1",
                                               "vision_model.encoder.layers.1.self_attn.q_proj"}));
  auto params = tower->named_parameters();
  ASSERT_TRUE(params.contains("vision_model.encoder.layers.1.self_attn.q_proj.lora_A.weight"));
  auto a = params["vision_model.encoder.layers.1.self_attn.q_proj.lora_A.weight"];
  auto b = params["vision_model.encoder.layers.1.self_attn.q_proj.lora_B.weight"];
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{16, 4}));
  EXPECT_TRUE(b.eq(0).all().item<bool>());
  EXPECT_LE(a.abs().max().item<double>(), 1.0 / std::sqrt(16.0));  // U(-1/√in, 1/√in)
  EXPECT_GT(a.abs().max().item<double>(), 0.5 / std::sqrt(16.0));
  EXPECT_TRUE(torch::equal(tower->forward(x).features, base));  // B = 0: bit-identical
  // Same seed, same A.
  auto other = tiny_tower(1);
  apply_lora(*other, config(), 234);
  EXPECT_TRUE(torch::equal(other->named_parameters()["vision_model.encoder.layers.0.mlp.fc1.lora_A.weight"],
                           params["vision_model.encoder.layers.0.mlp.fc1.lora_A.weight"]));
}

TEST(Lora, BranchIsScaledBAxAndMergeMatchesUnmerged) {
  auto tower = tiny_tower(2);
  apply_lora(*tower, config());
  randomise_b(*tower);
  auto& q = tower->vision_model->encoder->layers->ptr<VisionEncoderLayerImpl>(1)->self_attn->q_proj;
  auto params = q->named_parameters();
  auto x = torch::randn({3, 16});
  auto expect = q->forward(x) + 2.0 * torch::matmul(torch::matmul(x, params["lora_A.weight"].t()), params["lora_B.weight"].t());
  EXPECT_TRUE(torch::allclose(apply_linear(q, x), expect, 1e-6, 1e-6));

  auto pixels = torch::randn({2, 3, 28, 28});
  auto unmerged = tower->forward(pixels).features;
  auto w_before = q->weight.clone();
  merge_lora(*tower);
  auto merged = tower->forward(pixels).features;
  // fp32: W + s·BA folded into one GEMM rounds differently from two GEMMs; observed ~1e-6.
  EXPECT_TRUE(torch::allclose(merged, unmerged, 1e-5, 1e-5)) << (merged - unmerged).abs().max();
  EXPECT_FALSE(torch::equal(q->weight, w_before));
  unmerge_lora(*tower);
  EXPECT_TRUE(torch::allclose(q->weight, w_before, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(tower->forward(pixels).features, unmerged, 1e-5, 1e-5));
}

TEST(Lora, DropoutOnlyOnTheBranchAndOnlyInTraining) {
  auto tower = tiny_tower(3);
  apply_lora(*tower, config(0.5));
  auto& fc1 = tower->vision_model->encoder->layers->ptr<VisionEncoderLayerImpl>(0)->mlp->fc1;
  auto x = torch::randn({4, 16});
  tower->eval();
  EXPECT_TRUE(torch::equal(apply_linear(fc1, x), fc1->forward(x)));  // B = 0
  tower->train();
  EXPECT_TRUE(torch::equal(apply_linear(fc1, x), fc1->forward(x)));  // dropout never touches the base path
  randomise_b(*tower);
  tower->eval();
  auto e1 = apply_linear(fc1, x), e2 = apply_linear(fc1, x);
  EXPECT_TRUE(torch::equal(e1, e2));
  tower->train();
  EXPECT_FALSE(torch::equal(apply_linear(fc1, x), e1));
}

TEST(Lora, PeftExportAndLoadRoundTripBitExact) {
  auto tower = tiny_tower(4);
  auto cfg = config(0.05);
  cfg.base_model_name_or_path = "tiny-tower";
  apply_lora(*tower, cfg, 7);
  randomise_b(*tower);
  auto dir = vr::test::temp_dir("peft");
  save_peft_adapter(*tower, cfg, dir);

  auto tensors = vr::load_safetensors(dir + "/adapter_model.safetensors");
  EXPECT_EQ(tensors.size(), 6u);
  EXPECT_TRUE(tensors.count("base_model.model.vision_model.encoder.layers.1.self_attn.q_proj.lora_A.weight"));
  nlohmann::json j = nlohmann::json::parse(std::ifstream(dir + "/adapter_config.json"));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 4);
  EXPECT_EQ(j["lora_alpha"], 8);
  EXPECT_EQ(j["bias"], "none");
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
  EXPECT_EQ(j["base_model_name_or_path"], "tiny-tower");
  EXPECT_EQ(j["target_modules"].size(), 3u);  // the wrapped full names

  auto fresh = tiny_tower(4);  // same base weights
  auto loaded = load_peft_adapter(*fresh, dir);
  EXPECT_EQ(loaded.r, 4);
  EXPECT_DOUBLE_EQ(loaded.scaling(), 2.0);
  auto a = lora_state_dict(*tower), b = lora_state_dict(*fresh);
  ASSERT_EQ(a.size(), b.size());
  for (auto& [k, t] : a) EXPECT_TRUE(torch::equal(t, b.at(k))) << k;
  tower->eval();
  fresh->eval();
  auto pixels = torch::randn({1, 3, 28, 28});
  EXPECT_TRUE(torch::equal(tower->forward(pixels).features, fresh->forward(pixels).features));
}

TEST(Lora, Errors) {
  auto tower = tiny_tower(5);
  auto bad = config();
  bad.target_modules = {"vision_model.encoder.layers.7.self_attn.q_proj"};
  EXPECT_THROW(apply_lora(*tower, bad), vr::Error);
  apply_lora(*tower, config());
  EXPECT_THROW(apply_lora(*tower, config()), vr::Error);  // already wrapped
  merge_lora(*tower);
  EXPECT_THROW(save_peft_adapter(*tower, config(), vr::test::temp_dir("peft_merged")), vr::Error);
  auto empty = tiny_tower(5);
  EXPECT_THROW(load_peft_adapter(*empty, vr::test::temp_dir("peft_none")), vr::Error);
}

TEST(Lora, VisualRegionTargetsAreTheSevenProjectionsOfEachLayer) {
  auto t = visual_region_lora_targets({1, 5});
  ASSERT_EQ(t.size(), 14u);
  EXPECT_EQ(t[0], "language_model.model.layers.1.self_attn.q_proj");
  EXPECT_EQ(t[13], "language_model.model.layers.5.mlp.down_proj");
}

// The model code applies linears through the generic branch mechanism and never names LoRA: adapters are
// attached from outside (apply_lora), as PEFT and torchtune wrap nn.Linear.
TEST(Lora, PlainModelCodeKnowsNoLora) {
  for (const char* file : {"src/model/llama.cpp", "src/model/vision_transformer.cpp", "include/vr/model/llama.h",
                           "include/vr/model/vision_transformer.h"}) {
    const std::string text = vr::read_file(std::string(VR_SOURCE_DIR) + "/" + file);
    EXPECT_EQ(text.find("lora.h"), std::string::npos) << file;
    EXPECT_EQ(text.find("Lora"), std::string::npos) << file;
  }
}

namespace {
// Adds a constant to every output feature; the smallest branch to check apply_linear's contract.
struct ConstantBranchImpl : LinearBranchImpl {
  double c = 0;
  bool on = true;
  at::Tensor delta(const at::Tensor& x) override {
    return torch::full({x.size(0), 3}, c, x.options().dtype(torch::kDouble));  // cast to y's dtype by apply_linear
  }
  bool active() const override { return on; }
};
}  // namespace

TEST(Lora, ApplyLinearAddsEveryActiveBranchAndLoraIsOne) {
  torch::manual_seed(0);
  torch::nn::Linear lin(4, 3);
  auto x = torch::randn({2, 4});
  const auto base = lin->forward(x);
  EXPECT_TRUE(torch::equal(apply_linear(lin, x), base));  // plain Linear
  auto branch = std::make_shared<ConstantBranchImpl>();
  branch->c = 0.5;
  lin->register_module("extra", branch);
  EXPECT_TRUE(torch::allclose(apply_linear(lin, x), base + 0.5));
  EXPECT_EQ(apply_linear(lin, x).scalar_type(), torch::kFloat);
  branch->on = false;
  EXPECT_TRUE(torch::equal(apply_linear(lin, x), base));
  // A LoRA adapter is such a branch: attached, it adds scaling·B·A·x (B = 0 at init, so set it).
  torch::nn::Sequential root(lin);
  LoraConfig c = config();
  c.target_modules = {"0"};
  apply_lora(*root, c, /*seed=*/1);
  torch::NoGradGuard no_grad;
  lin->named_modules()["lora_B"]->as<torch::nn::LinearImpl>()->weight.fill_(0.25);
  auto a = lin->named_modules()["lora_A"]->as<torch::nn::LinearImpl>()->weight;
  auto expect = base + torch::matmul(torch::matmul(x, a.t()), torch::full({4, 3}, 0.25)) * c.scaling();
  EXPECT_TRUE(torch::allclose(apply_linear(lin, x), expect, 1e-6, 1e-6));
}

}  // namespace model_lora_test
