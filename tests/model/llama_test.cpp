// Llama unit tests on tiny random models: config parsing, parameter names and counts, tying, masks, RoPE,
// loss, pruning, and that gradient checkpointing reproduces the plain gradients.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "support/random_llama.h"
#include "vr/core/error.h"
#include "vr/model/attention_mask.h"
#include "vr/model/llama.h"
#include "vr/model/lora.h"
#include "vr/model/rope.h"

namespace model_llama_test {

using namespace vr::model;

namespace {

LlamaConfig tiny_config(bool tied = false) {
  LlamaConfig c = llama_shape(40, 16, 24, 3, 4, 2);
  c.max_position_embeddings = 32;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.tie_word_embeddings = tied;
  return c;
}

LlamaInputs tiny_batch(const LlamaConfig& c) {
  LlamaInputs in;
  in.input_ids = torch::randint(0, c.vocab_size, {2, 7}, torch::kLong);
  in.attention_mask = torch::ones({2, 7}, torch::kLong);
  in.attention_mask.index_put_({1, torch::indexing::Slice(5, 7)}, 0);  // row 1: 5 tokens, right padding
  in.labels = in.input_ids.clone();
  in.labels.index_put_({1, torch::indexing::Slice(5, 7)}, -100);
  in.labels.index_put_({0, 0}, -100);
  return in;
}

}  // namespace

TEST(LlamaConfig, AppliesHfDefaultsForOmittedKeys) {
  auto c = LlamaConfig::from_json(nlohmann::json::parse(
      R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":2,"vocab_size":100,
          "intermediate_size":128})"));
  EXPECT_EQ(c.num_key_value_heads, 4);  // None → MHA
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.resolved_head_dim(), 16);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_FALSE(c.pad_token_id.has_value());
}

TEST(LlamaConfig, ReadsListEosAndRoundTripsThroughJson) {
  auto c = LlamaConfig::from_json(nlohmann::json::parse(
      R"({"hidden_size":32,"num_attention_heads":2,"num_key_value_heads":1,"eos_token_id":[128001,128009],
          "rope_theta":500000.0,"rms_norm_eps":1e-5,"tie_word_embeddings":true,"pad_token_id":7,"rope_scaling":null})"));
  EXPECT_EQ(c.eos_token_id, 128001);
  auto back = LlamaConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.pad_token_id, std::optional<int64_t>(7));
  EXPECT_TRUE(back.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(back.rope_theta, 500000.0);
}

TEST(LlamaConfig, RejectsUnsupportedFeaturesClearly) {
  auto expect_error = [](const char* json, const char* needle) {
    try {
      LlamaConfig::from_json(nlohmann::json::parse(json));
      ADD_FAILURE() << "accepted " << json;
    } catch (const vr::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"rope_scaling":{"type":"linear","factor":2.0}})", "rope_scaling");
  expect_error(R"({"rope_scaling":{"rope_type":"llama3","factor":8.0}})", "llama3");
  expect_error(R"({"hidden_act":"gelu"})", "hidden_act");
  expect_error(R"({"model_type":"mistral"})", "mistral");
  expect_error(R"({"num_attention_heads":6,"num_key_value_heads":4})", "num_key_value_heads");
  expect_error(R"({"hidden_size":"big"})", "hidden_size");
}

TEST(LlamaConfig, NumParametersIsExact) {
  for (bool tied : {false, true}) {
    for (bool bias : {false, true}) {
      auto c = tiny_config(tied);
      c.attention_bias = c.mlp_bias = bias;
      LlamaForCausalLM m(c);
      int64_t counted = 0;
      for (const auto& p : m->parameters()) counted += p.numel();
      EXPECT_EQ(c.num_parameters(), counted) << "tied " << tied << " bias " << bias;
    }
  }
  // Llama-3-8B: 8,030,261,248 parameters (the published count).
  LlamaConfig l3;
  l3.vocab_size = 128256, l3.hidden_size = 4096, l3.intermediate_size = 14336, l3.num_hidden_layers = 32;
  l3.num_attention_heads = 32, l3.num_key_value_heads = 8;
  EXPECT_EQ(l3.num_parameters(), 8030261248LL);
}

TEST(Llama, ParameterNamesAreHuggingFaces) {
  auto c = tiny_config();
  c.num_hidden_layers = 1;
  LlamaForCausalLM m(c);
  std::vector<std::string> names;
  for (const auto& kv : m->named_parameters()) names.push_back(kv.key());
  std::vector<std::string> hf = {
      "model.embed_tokens.weight",
      "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.k_proj.weight",
      "model.layers.0.self_attn.v_proj.weight",
      "model.layers.0.self_attn.o_proj.weight",
      "model.layers.0.mlp.gate_proj.weight",
      "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight",
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.post_attention_layernorm.weight",
      "model.norm.weight",
      "lm_head.weight"};
  EXPECT_EQ(names, hf);
  EXPECT_EQ(m->named_parameters()["model.layers.0.self_attn.k_proj.weight"].sizes(), torch::IntArrayRef({8, 16}));
}

TEST(Llama, TiedHeadSharesTheEmbeddingTensorAcrossDtypeMoves) {
  auto m = vr::test::random_llama(tiny_config(/*tied=*/true), 1);
  EXPECT_FALSE(m->named_parameters().contains("lm_head.weight"));
  EXPECT_TRUE(m->lm_head->weight.is_same(m->model->embed_tokens->weight));
  m->to(torch::kBFloat16);
  EXPECT_EQ(m->lm_head->weight.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(m->lm_head->weight.is_same(m->model->embed_tokens->weight));
  auto in = tiny_batch(m->config());
  LlamaInputs x;
  x.input_ids = in.input_ids;
  x.output_hidden_states = true;
  auto h = m->forward(x);
  auto manual = torch::matmul(h.hidden_states.back(), m->model->embed_tokens->weight.t()).to(torch::kFloat);
  EXPECT_TRUE(torch::equal(h.logits, manual));
}

TEST(AttentionMask, UsesDtypeMinAndKeepsFullyMaskedRowsFinite) {
  auto am = torch::tensor({{0, 0, 1, 1}, {1, 1, 1, 0}}, torch::kLong);  // row 0 left-padded
  auto mask = causal_attention_mask(am, 2, 4, 0, torch::kFloat, torch::kCPU);
  ASSERT_EQ(mask.sizes(), torch::IntArrayRef({2, 1, 4, 4}));
  const float lo = std::numeric_limits<float>::lowest();
  EXPECT_EQ(mask[0][0][2][1].item<float>(), lo);   // padding key
  EXPECT_EQ(mask[0][0][2][2].item<float>(), 0.f);  // itself
  EXPECT_EQ(mask[1][0][1][2].item<float>(), lo);   // future key
  EXPECT_EQ(mask[1][0][3][2].item<float>(), 0.f);
  EXPECT_EQ(mask[1][0][3][3].item<float>(), lo);   // padding key at the query's own position
  // Query 0 of row 0 sees nothing: softmax over (scores + min) stays finite (uniform), unlike -inf.
  auto probs = torch::softmax(torch::randn({2, 1, 4, 4}) + mask, -1);
  EXPECT_FALSE(probs.isnan().any().item<bool>());
  // With a cache: 2 new queries after 3 cached keys.
  auto cached = causal_attention_mask({}, 1, 2, 3, torch::kBFloat16, torch::kCPU);
  EXPECT_EQ(cached[0][0][0][3].item<float>(), 0.f);
  EXPECT_LT(cached[0][0][0][4].item<float>(), -1e38f);
  EXPECT_TRUE(torch::equal(position_ids_from_mask(am), torch::tensor({{1, 1, 0, 1}, {0, 1, 2, 1}}, torch::kLong)));
}

TEST(Rope, MatchesTheClosedForm) {
  const int64_t D = 8;
  auto pos = torch::tensor({{0, 1, 5}}, torch::kLong);
  auto [cos, sin] = rope_cos_sin(pos, D, 10000.0, torch::kFloat);
  for (int64_t i = 0; i < D; ++i) {
    double inv = 1.0 / std::pow(10000.0, 2.0 * (i % (D / 2)) / D);
    EXPECT_NEAR(cos[0][2][i].item<double>(), std::cos(5 * inv), 1e-6);
    EXPECT_NEAR(sin[0][2][i].item<double>(), std::sin(5 * inv), 1e-6);
  }
  // Rotating by position p preserves norms and the rotate_half pairing (x[i], x[i + D/2]).
  auto x = torch::randn({1, 1, 3, D});
  auto y = apply_rope(x, cos, sin);
  EXPECT_TRUE(torch::allclose(y.norm(2, -1), x.norm(2, -1), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(y.select(2, 0), x.select(2, 0)));  // position 0 is the identity
  EXPECT_TRUE(torch::equal(rotate_half(torch::tensor({1.f, 2.f, 3.f, 4.f})), torch::tensor({-3.f, -4.f, 1.f, 2.f})));
}

TEST(Llama, LossIsShiftedCrossEntropyIgnoringMinus100) {
  auto logits = torch::randn({2, 4, 5});
  auto labels = torch::tensor({{-100, 1, 2, -100}, {3, -100, 4, 0}}, torch::kLong);
  // Targets: row 0 positions 0,1 → 1,2; row 1 positions 1,2 → 4,0 (position 0's target is -100).
  double sum = 0;
  auto lsm = torch::log_softmax(logits, -1);
  sum -= lsm[0][0][1].item<double>() + lsm[0][1][2].item<double>() + lsm[1][1][4].item<double>() +
         lsm[1][2][0].item<double>();
  EXPECT_NEAR(causal_lm_loss(logits, labels).item<double>(), sum / 4, 1e-6);
  EXPECT_THROW(causal_lm_loss(logits, torch::tensor({{0, 9, 0, 0}, {0, 0, 0, 0}}, torch::kLong)), vr::Error);
}

TEST(Llama, RejectsBadInputsWithErrors) {
  auto m = vr::test::random_llama(tiny_config(), 2);
  LlamaInputs x;
  x.input_ids = torch::tensor({{1, 40}}, torch::kLong);  // id == vocab size
  EXPECT_THROW(m->forward(x), vr::Error);
  x.input_ids = torch::tensor({{1, 2}}, torch::kLong);
  x.attention_mask = torch::ones({1, 3}, torch::kLong);  // wrong length
  EXPECT_THROW(m->forward(x), vr::Error);
  EXPECT_THROW(m->forward(LlamaInputs{}), vr::Error);  // neither ids nor embeddings
}

TEST(Llama, KeepLayersRenumbersAndMatchesManualStack) {
  auto m = vr::test::random_llama(tiny_config(), 3);
  auto in = tiny_batch(m->config());
  auto layer2 = m->layer(2);
  m->keep_layers({0, 2});
  EXPECT_EQ(m->config().num_hidden_layers, 2);
  EXPECT_EQ(m->model->layers->size(), 2u);
  EXPECT_TRUE(m->layer(1).ptr() == layer2.ptr());
  auto params = m->named_parameters();
  EXPECT_TRUE(params.contains("model.layers.1.mlp.up_proj.weight"));
  EXPECT_FALSE(params.contains("model.layers.2.mlp.up_proj.weight"));
  EXPECT_EQ(static_cast<int64_t>(m->parameters().size()), 2 + 2 * 9 + 1);
  EXPECT_THROW(m->keep_layers({1, 0}), vr::Error);
  EXPECT_THROW(m->keep_layers({0, 5}), vr::Error);
  auto out = m->forward(in);
  EXPECT_EQ(out.logits.sizes(), torch::IntArrayRef({2, 7, 40}));
}

// Checkpointed backward must give the same gradients as the plain backward, for every trainable tensor,
// including a projector in front of layer 0 when every Llama weight is frozen.
TEST(Llama, GradientCheckpointingReproducesGradients) {
  torch::set_num_threads(1);
  auto c = tiny_config();
  auto run = [&](bool ckpt, const std::string& trainable) {
    auto m = vr::test::random_llama(c, 4);
    torch::manual_seed(5);
    auto projector = torch::nn::Linear(6, c.hidden_size);
    auto feats = torch::randn({2, 7, 6});
    auto in = tiny_batch(c);
    m->set_gradient_checkpointing(ckpt);
    for (auto& kv : m->named_parameters()) {
      bool on = trainable == "all" || (trainable == "layer1" && kv.key().find("layers.1.") != std::string::npos);
      kv.value().requires_grad_(on);
    }
    LlamaInputs x = in;
    if (trainable == "none") {
      x.input_ids = at::Tensor();
      x.inputs_embeds = projector(feats);
    }
    auto out = m->forward(x);
    out.loss.backward();
    std::map<std::string, torch::Tensor> grads;
    for (auto& kv : m->named_parameters())
      if (kv.value().grad().defined()) grads[kv.key()] = kv.value().grad().clone();
    if (projector->weight.grad().defined()) grads["projector.weight"] = projector->weight.grad().clone();
    grads["loss"] = out.loss.detach();
    return grads;
  };
  for (std::string mode : {"all", "layer1", "none"}) {
    auto plain = run(false, mode), ckpt = run(true, mode);
    // Gradients expected (+ the loss entry): all 30 Llama tensors; layer 1's 9; only the projector's weight.
    const size_t expected = mode == "all" ? 31 : mode == "layer1" ? 10 : 2;
    EXPECT_EQ(plain.size(), expected) << mode;
    ASSERT_EQ(ckpt.size(), expected) << mode;
    if (mode == "none") EXPECT_TRUE(ckpt.count("projector.weight")) << "projector got no gradient";
    double worst = 0;
    for (auto& [name, g] : plain)
      if (ckpt.count(name)) worst = std::max(worst, (ckpt[name] - g).abs().max().item<double>());
    std::printf("[measured] checkpointing (%s trainable): max|grad diff| %.3g\n", mode.c_str(), worst);
    for (auto& [name, g] : plain) {
      ASSERT_TRUE(ckpt.count(name)) << mode << ": checkpointed run lacks a gradient for " << name;
      EXPECT_GT(g.abs().max().item<double>(), 0) << name;
      EXPECT_TRUE(vr::test::all_close(ckpt[name], g, 1e-7, 1e-6, mode + ":" + name));
    }
  }
}

// LoRA dropout draws a mask in forward; the checkpointed recompute in backward must draw the SAME mask (RNG state
// saved before the forward and restored around the recompute, as torch.utils.checkpoint(preserve_rng_state=True)),
// otherwise the gradient is that of a different loss. With the state restored, on vs off agree to fp32 rounding.
TEST(Llama, GradientCheckpointingReplaysLoraDropoutMasks) {
  torch::set_num_threads(1);
  auto c = tiny_config();
  auto run = [&](bool ckpt) {
    auto m = vr::test::random_llama(c, 6);
    LoraConfig lc;
    lc.r = 4;
    lc.alpha = 8;
    lc.dropout = 0.5;  // large, so a fresh mask changes the gradient by far more than rounding
    lc.target_modules = {"q_proj", "v_proj", "down_proj"};
    apply_lora(*m, lc, /*seed=*/7);
    {
      torch::NoGradGuard ng;  // non-zero B, so dropout on A's input reaches the loss
      for (auto& kv : m->named_parameters())
        if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.5);
    }
    for (auto& kv : m->named_parameters()) kv.value().requires_grad_(kv.key().find("lora_") != std::string::npos);
    m->train();
    m->set_gradient_checkpointing(ckpt);
    torch::manual_seed(8);
    auto in = tiny_batch(c);
    torch::manual_seed(9);  // the dropout masks come from here
    auto out = m->forward(in);
    out.loss.backward();
    std::map<std::string, torch::Tensor> grads;
    for (auto& kv : m->named_parameters())
      if (kv.value().grad().defined()) grads[kv.key()] = kv.value().grad().clone();
    grads["loss"] = out.loss.detach();
    return grads;
  };
  auto plain = run(false), ckpt = run(true);
  ASSERT_EQ(plain.size(), 1u + 3 * 3 * 2);  // loss + 3 layers x 3 targets x {A, B}
  ASSERT_EQ(ckpt.size(), plain.size());
  double worst = 0;
  for (auto& [name, g] : plain) worst = std::max(worst, (ckpt[name] - g).abs().max().item<double>());
  std::printf("[measured] checkpointing + LoRA dropout 0.5: max|grad diff| %.3g\n", worst);
  for (auto& [name, g] : plain) EXPECT_TRUE(vr::test::all_close(ckpt[name], g, 1e-6, 1e-5, name));
}

}  // namespace model_llama_test
