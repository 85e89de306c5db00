// Greedy KV-cache generation vs HF generate (fixtures generation/llama_gqa and pruning/llama_gqa): ids exact,
// logits in the model_fp32 class (atol 1e-4, rtol 1e-4; HF's own cache-vs-recompute spread is ~3e-6).
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/attention_mask.h"
#include "vr/model/generate.h"
#include "vr/model/llama.h"

namespace model_llama_generate_test {

using namespace vr::model;
using vr::test::model_close;

const auto read = vr::test::read_fixture_tensors;

TEST(LlamaGenerate, LeftPaddedBatchWithEosMatchesHf) {
  VR_REQUIRE_FIXTURE("generation/llama_gqa");
  torch::set_num_threads(1);
  auto model = load_llama(vr::test::fixtures_dir() + "/llama_gqa");
  auto in = read("generation/llama_gqa/inputs.safetensors");
  auto ex = read("generation/llama_gqa/expected.safetensors");
  const GenerateOptions opt = vr::test::fixture_greedy_options(ex, /*max_new_tokens=*/12);
  LlamaInputs prompt;
  prompt.input_ids = in.at("input_ids");
  prompt.attention_mask = in.at("attention_mask");
  auto r = generate_llama(*model, prompt, opt);

  vr::test::expect_generation_matches(r, ex, 3, "llama_gqa");
  EXPECT_TRUE(torch::equal(r.attention_mask, ex.at("final_attention_mask")));
  EXPECT_TRUE(torch::equal(position_ids_from_mask(r.attention_mask), ex.at("position_ids")));

  // The no-cache forward of the whole sequence with the mask-derived positions gives the same logits.
  torch::NoGradGuard no_grad;
  LlamaInputs full;
  full.input_ids = r.sequences;
  full.attention_mask = r.attention_mask;
  full.position_ids = position_ids_from_mask(r.attention_mask);
  auto logits = model->forward(full).logits;
  EXPECT_TRUE(model_close(logits, ex.at("full_logits"), "full_logits"));

  // Each prompt alone (no padding): same ids, stops right after eos.
  for (int b = 0; b < 2; ++b) {
    auto key = "alone." + std::to_string(b);
    LlamaInputs one;
    one.input_ids = in.at(key + ".input_ids");
    auto a = generate_llama(*model, one, opt);
    EXPECT_TRUE(torch::equal(a.sequences, ex.at(key + ".sequences"))) << key << " " << a.sequences;
    EXPECT_TRUE(model_close(a.step_logits.squeeze(1), ex.at(key + ".step_logits"), key + ".step_logits"));
  }
}

// Pruned model: the cache must be indexed by the new layer numbers (HF fails with the old ones).
TEST(LlamaGenerate, PrunedModelByKeepLayersAndByLoadingMatchesHf) {
  VR_REQUIRE_FIXTURE("pruning/llama_gqa");
  torch::set_num_threads(1);
  auto in = read("pruning/llama_gqa/inputs.safetensors");
  auto ex = read("pruning/llama_gqa/expected.safetensors");
  auto kept = load_llama(vr::test::fixtures_dir() + "/llama_gqa");
  kept->keep_layers({0, 2});
  auto loaded = load_llama(vr::test::fixtures_dir() + "/pruning/llama_gqa");
  GenerateOptions opt;
  opt.max_new_tokens = 8;  // no eos
  opt.pad_token_id = 0;
  LlamaInputs prompt;
  prompt.input_ids = in.at("generate.input_ids");
  prompt.attention_mask = in.at("generate.attention_mask");
  for (auto* model : {&kept, &loaded}) {
    std::string tag = model == &kept ? "keep_layers " : "loaded ";
    auto r = generate_llama(**model, prompt, opt);
    EXPECT_EQ(r.cache.layers.size(), 2u);
    EXPECT_TRUE(torch::equal(r.sequences, ex.at("generate.sequences"))) << tag << r.sequences;
    EXPECT_TRUE(model_close(r.step_logits, ex.at("generate.step_logits"), tag + "step_logits"));
    torch::NoGradGuard no_grad;
    LlamaInputs full;
    full.input_ids = r.sequences;
    full.attention_mask = r.attention_mask;
    full.position_ids = position_ids_from_mask(r.attention_mask);
    EXPECT_TRUE(model_close((*model)->forward(full).logits, ex.at("generate.full_logits"), tag + "full_logits"));
  }
}

TEST(LlamaGenerate, ZeroStepsAndBadOptions) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  auto model = load_llama(vr::test::fixtures_dir() + "/llama_gqa");
  LlamaInputs prompt;
  prompt.input_ids = torch::tensor({{1, 5, 6}}, torch::kLong);
  GenerateOptions opt;
  opt.max_new_tokens = 0;
  auto r = generate_llama(*model, prompt, opt);
  EXPECT_EQ(r.generated_ids.sizes(), torch::IntArrayRef({1, 0}));
  EXPECT_TRUE(torch::equal(r.sequences, prompt.input_ids));
  opt.pad_token_id = 100000;
  EXPECT_THROW(generate_llama(*model, prompt, opt), vr::Error);
}

}  // namespace model_llama_generate_test
