// Llama vs the Hugging Face golden fixtures (shared/fixtures/README.md): llama_gqa (GQA, theta 5e5, untied head)
// and llama_tied (MHA, theta 1e4, tied head), plus the pruned llama_gqa.
// Tolerances are the README's classes: model_fp32 (atol 1e-4, rtol 1e-4) for logits and hidden states,
// loss (rtol 1e-5), grad_norm (rtol 1e-4), grad_full (atol 1e-5, rtol 1e-4). A faithful CPU fp32 implementation
// lands far inside them (measured max |diff| in docs/models.md), so these catch any semantic slip.
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/llama.h"

namespace model_llama_conformance_test {

using namespace vr::model;
using vr::test::all_close;
using vr::test::model_close;

namespace {

constexpr double kLossRtol = 1e-5, kGradNormRtol = 1e-4, kGradAtol = 1e-5, kGradRtol = 1e-4;

const auto read = vr::test::read_fixture_tensors;

LlamaInputs fixture_inputs(const std::map<std::string, at::Tensor>& t) {
  LlamaInputs in;
  in.input_ids = t.at("input_ids");
  in.attention_mask = t.at("attention_mask");
  in.labels = t.at("labels");
  in.output_hidden_states = true;
  return in;
}

// Forward + backward against expected.safetensors: logits, every hidden state, loss, every grad_norm.<param>
// and the full gradients listed there.
void check_forward_backward(const std::string& name, bool checkpointing) {
  torch::set_num_threads(1);
  auto model = load_llama(vr::test::fixtures_dir() + "/" + name);
  model->set_gradient_checkpointing(checkpointing);
  auto inputs = read(name + "/inputs.safetensors");
  auto expected = read(name + "/expected.safetensors");
  auto out = model->forward(fixture_inputs(inputs));

  EXPECT_TRUE(model_close(out.logits, expected.at("logits"), "logits"));
  const int64_t L = model->config().num_hidden_layers;
  ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), L + 1);
  for (int64_t i = 0; i <= L; ++i) {
    std::string key = "hidden_states." + std::to_string(i);
    EXPECT_TRUE(model_close(out.hidden_states[i], expected.at(key), key));
  }
  EXPECT_TRUE(all_close(out.loss, expected.at("loss"), 0, kLossRtol, "loss"));

  double hidden_diff = 0;
  for (int64_t i = 0; i <= L; ++i)
    hidden_diff = std::max(hidden_diff,
                           (out.hidden_states[i] - expected.at("hidden_states." + std::to_string(i))).abs().max().item<double>());
  out.loss.backward();
  double norm_rel = 0;
  for (const auto& kv : model->named_parameters()) {
    auto e = expected.at("grad_norm." + kv.key()).item<double>();
    norm_rel = std::max(norm_rel, std::abs(kv.value().grad().norm().item<double>() - e) / e);
  }
  std::printf("[measured] %s%s: max|diff| logits %.3g, hidden states %.3g, loss %.3g; grad_norm max rel %.3g\n",
              name.c_str(), checkpointing ? " (checkpointed)" : "",
              (out.logits - expected.at("logits")).abs().max().item<double>(), hidden_diff,
              (out.loss - expected.at("loss")).abs().item<double>(), norm_rel);
  int checked_norms = 0, checked_full = 0;
  for (const auto& kv : model->named_parameters()) {
    ASSERT_TRUE(kv.value().grad().defined()) << kv.key();
    auto norm_key = "grad_norm." + kv.key();
    ASSERT_TRUE(expected.count(norm_key)) << "fixture lacks " << norm_key;
    EXPECT_TRUE(all_close(kv.value().grad().norm(), expected.at(norm_key), 0, kGradNormRtol, norm_key));
    ++checked_norms;
    auto full_key = "grad." + kv.key();
    if (expected.count(full_key)) {
      EXPECT_TRUE(all_close(kv.value().grad(), expected.at(full_key), kGradAtol, kGradRtol, full_key));
      ++checked_full;
    }
  }
  int fixture_norms = 0;
  for (const auto& kv : expected) fixture_norms += kv.first.rfind("grad_norm.", 0) == 0;
  EXPECT_EQ(checked_norms, fixture_norms);  // one per named parameter, tied head counted once
  EXPECT_EQ(checked_full, 6);
}

}  // namespace

TEST(LlamaConformance, GqaForwardBackward) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  check_forward_backward("llama_gqa", false);
}

TEST(LlamaConformance, TiedForwardBackward) {
  VR_REQUIRE_FIXTURE("llama_tied");
  check_forward_backward("llama_tied", false);
}

TEST(LlamaConformance, GqaWithGradientCheckpointing) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  check_forward_backward("llama_gqa", true);
}

TEST(LlamaConformance, TiedWithGradientCheckpointing) {
  VR_REQUIRE_FIXTURE("llama_tied");
  check_forward_backward("llama_tied", true);
}

TEST(LlamaConformance, TiedCheckpointHasNoLmHeadAndSharesEmbedding) {
  VR_REQUIRE_FIXTURE("llama_tied");
  auto model = load_llama(vr::test::fixtures_dir() + "/llama_tied");
  EXPECT_TRUE(model->config().tie_word_embeddings);
  EXPECT_TRUE(model->lm_head->weight.is_same(model->model->embed_tokens->weight));
  EXPECT_EQ(model->config().num_parameters(), 171456);  // README: num_params
}

// The pruned fixture: keep old layers [0, 2] of llama_gqa, both by keep_layers() and by loading the pruned
// checkpoint directly; either way forward.* must match.
TEST(LlamaConformance, PrunedGqaMatchesByKeepLayersAndByLoading) {
  VR_REQUIRE_FIXTURE("pruning/llama_gqa");
  torch::set_num_threads(1);
  torch::NoGradGuard no_grad;
  auto expected = read("pruning/llama_gqa/expected.safetensors");
  auto kept_t = expected.at("kept_layers");
  std::vector<int64_t> kept(kept_t.data_ptr<int64_t>(), kept_t.data_ptr<int64_t>() + kept_t.numel());
  ASSERT_EQ(kept, (std::vector<int64_t>{0, 2}));
  auto in = fixture_inputs(read("llama_gqa/inputs.safetensors"));

  auto pruned = load_llama(vr::test::fixtures_dir() + "/llama_gqa");
  pruned->keep_layers(kept);
  auto loaded = load_llama(vr::test::fixtures_dir() + "/pruning/llama_gqa");
  for (auto* model : {&pruned, &loaded}) {
    std::string tag = model == &pruned ? "keep_layers: " : "loaded: ";
    auto out = (*model)->forward(in);
    EXPECT_TRUE(model_close(out.logits, expected.at("forward.logits"), tag + "logits"));
    ASSERT_EQ(out.hidden_states.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      auto key = "forward.hidden_states." + std::to_string(i);
      EXPECT_TRUE(model_close(out.hidden_states[i], expected.at(key), tag + key));
    }
    EXPECT_TRUE(all_close(out.loss, expected.at("forward.loss"), 0, kLossRtol, tag + "loss"));
    std::printf("[measured] pruned llama_gqa (%s): max|diff| logits %.3g\n", tag.c_str(),
                (out.logits - expected.at("forward.logits")).abs().max().item<double>());
  }
  // Same tensors under the same (renumbered) names.
  auto a = pruned->named_parameters(), b = loaded->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : b) EXPECT_TRUE(torch::equal(a[kv.key()], kv.value())) << kv.key();
}

// bf16 weights and activations (norm/softmax in fp32) stay close to the fp32 reference: bf16 keeps 8 mantissa
// bits (relative step 2^-8 ≈ 0.004), compounded over 3 layers and a 64-wide dot product per logit.
TEST(LlamaConformance, Bf16IsCloseToFp32) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  torch::NoGradGuard no_grad;
  auto model = load_llama(vr::test::fixtures_dir() + "/llama_gqa", at::kBFloat16);
  EXPECT_EQ(model->model->layers[0]->named_parameters()["self_attn.q_proj.weight"].scalar_type(), at::kBFloat16);
  auto inputs = read("llama_gqa/inputs.safetensors");
  auto expected = read("llama_gqa/expected.safetensors");
  auto out = model->forward(fixture_inputs(inputs));
  EXPECT_EQ(out.logits.scalar_type(), at::kFloat);
  EXPECT_EQ(out.hidden_states[1].scalar_type(), at::kBFloat16);
  std::printf("[measured] bf16 llama_gqa: max|diff| logits %.3g, loss %.3g\n",
              (out.logits - expected.at("logits")).abs().max().item<double>(),
              (out.loss - expected.at("loss")).abs().item<double>());
  EXPECT_TRUE(all_close(out.logits, expected.at("logits"), 0.1, 0.02, "bf16 logits"));
  EXPECT_TRUE(all_close(out.loss, expected.at("loss"), 0, 0.01, "bf16 loss"));
}

TEST(LlamaConformance, LoadReportsMissingAndMismatchedKeys) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  auto sd = read("llama_gqa/model.safetensors");
  auto config = load_llama(vr::test::fixtures_dir() + "/llama_gqa")->config();
  LlamaForCausalLM model(config);
  sd.erase("model.layers.1.mlp.up_proj.weight");
  sd["model.layers.0.self_attn.k_proj.weight"] = torch::zeros({64, 64});
  sd["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch::zeros({8});  // old checkpoints: ignored
  try {
    load_llama_weights(*model, sd, "", "test checkpoint");
    FAIL() << "bad checkpoint accepted";
  } catch (const vr::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("inv_freq"), std::string::npos) << msg;
  }
  auto sd2 = read("llama_gqa/model.safetensors");
  sd2["vision_tower.x"] = torch::zeros({1});
  EXPECT_THROW(load_llama_weights(*model, sd2, "", "test checkpoint"), vr::Error);
  // With a prefix, only names under it count: a llava-hf layout loads its language model part.
  std::map<std::string, at::Tensor> llava;
  for (const auto& kv : read("llama_gqa/model.safetensors")) llava["language_model." + kv.first] = kv.second;
  llava["vision_tower.x"] = torch::zeros({1});
  load_llama_weights(*model, llava, "language_model.", "llava");
  EXPECT_TRUE(torch::equal(model->lm_head->weight, sd2.at("lm_head.weight")));
}

}  // namespace model_llama_conformance_test
