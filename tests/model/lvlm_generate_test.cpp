// LVLM generation vs HF LlavaForConditionalGeneration.generate (fixtures generation/llava and pruning/llava_siglip):
// ids exact, logits and the merged-sequence KV cache in the model_fp32 class (atol 1e-4, rtol 1e-4; HF's own
// cache-vs-recompute spread is ~2e-6). Plus what the fixtures do not cover: a left-padded batch of prompts with
// different image counts gives each row's unpadded result, and seeded sampling is reproducible.
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm_generate.h"

namespace model_lvlm_generate_test {

using namespace vr::model;
using vr::test::model_close;

const auto read = vr::test::read_fixture_tensors;

TEST(LvlmGenerate, LegacyImagePromptMatchesHfOverTheMergedSequence) {
  VR_REQUIRE_FIXTURE("generation/llava");
  torch::set_num_threads(1);
  auto model = load_lvlm(vr::test::fixtures_dir() + "/llava");
  model->eval();
  auto in = read("generation/llava/inputs.safetensors");
  auto ex = read("generation/llava/expected.safetensors");
  const GenerateOptions opt = vr::test::fixture_greedy_options(ex, /*max_new_tokens=*/12);
  auto r = generate_lvlm(*model, in.at("input_ids"), in.at("attention_mask"), in.at("pixel_values"), opt);

  vr::test::expect_generation_matches(r, ex, 3, "llava");
  EXPECT_EQ(r.prompt_length, ex.at("merged_prompt_len").item<int64_t>());  // 23 = 8 + 16 - 1

  // The no-cache forward of the whole sequence + image gives the recorded full logits.
  torch::NoGradGuard no_grad;
  LvlmInputs full;
  full.input_ids = r.sequences;
  full.pixel_values = in.at("pixel_values");
  EXPECT_TRUE(model_close(model->forward(full).logits, ex.at("full_logits"), "full_logits"));
}

TEST(LvlmGenerate, PrunedSiglipLlavaMatchesHf) {
  VR_REQUIRE_FIXTURE("pruning/llava_siglip");
  torch::set_num_threads(1);
  auto model = load_lvlm(vr::test::fixtures_dir() + "/pruning/llava_siglip");
  auto in = read("pruning/llava_siglip/inputs.safetensors");
  auto ex = read("pruning/llava_siglip/expected.safetensors");
  GenerateOptions opt;
  opt.max_new_tokens = 8;  // no eos
  opt.pad_token_id = 145;
  auto r = generate_lvlm(*model, in.at("generate.input_ids"), in.at("generate.attention_mask"),
                         in.at("generate.pixel_values"), opt);
  EXPECT_EQ(r.cache.layers.size(), 3u);
  EXPECT_EQ(r.prompt_length, ex.at("generate.merged_prompt_len").item<int64_t>());
  EXPECT_TRUE(torch::equal(r.sequences, ex.at("generate.sequences"))) << r.sequences;
  EXPECT_TRUE(model_close(r.step_logits, ex.at("generate.step_logits"), "step_logits"));
}

// Two prompts, one with an image and one with two, left-padded into one batch: every row generates what it
// generates alone (padding hidden from all real queries; positions restart at 0 after the padding).
TEST(LvlmGenerate, LeftPaddedBatchWithDifferentImageCountsEqualsEachRowAlone) {
  VR_REQUIRE_FIXTURE("generation/llava");
  torch::set_num_threads(1);
  auto model = load_lvlm(vr::test::fixtures_dir() + "/llava");
  auto in = read("generation/llava/inputs.safetensors");
  const int64_t img = model->config().image_token_index;
  auto pix = in.at("pixel_values");
  auto pix2 = pix.flip({3});
  // One element type throughout (torch::tensor rejects an int/int64 mix).
  auto a = torch::tensor(std::vector<int64_t>{1, 7, img, 9, 11}, torch::kLong).view({1, -1});
  auto b = torch::tensor(std::vector<int64_t>{1, img, 5, 6, img, 8, 9, 10}, torch::kLong).view({1, -1});
  GenerateOptions opt;
  opt.max_new_tokens = 5;
  opt.pad_token_id = 0;
  auto ra = generate_lvlm(*model, a, at::Tensor(), pix, opt);
  auto rb = generate_lvlm(*model, b, at::Tensor(), torch::cat({pix2, pix}), opt);

  auto ids = torch::zeros({2, 8}, torch::kLong), mask = torch::zeros({2, 8}, torch::kLong);
  ids[0].narrow(0, 3, 5).copy_(a[0]);
  mask[0].narrow(0, 3, 5).fill_(1);
  ids[1].copy_(b[0]);
  mask[1].fill_(1);
  auto r = generate_lvlm(*model, ids, mask, torch::cat({pix, pix2, pix}), opt);
  EXPECT_TRUE(torch::equal(r.generated_ids[0], ra.generated_ids[0])) << r.generated_ids << ra.generated_ids;
  EXPECT_TRUE(torch::equal(r.generated_ids[1], rb.generated_ids[0])) << r.generated_ids << rb.generated_ids;
  EXPECT_TRUE(model_close(r.step_logits.select(1, 0), ra.step_logits.select(1, 0), "row 0"));
  EXPECT_TRUE(model_close(r.step_logits.select(1, 1), rb.step_logits.select(1, 0), "row 1"));
  EXPECT_TRUE(torch::equal(r.sequences.narrow(1, 0, 8), ids));
}

TEST(LvlmGenerate, SeededSamplingIsReproducibleAndBadOptionsAreRejected) {
  VR_REQUIRE_FIXTURE("generation/llava");
  auto model = load_lvlm(vr::test::fixtures_dir() + "/llava");
  auto in = read("generation/llava/inputs.safetensors");
  GenerateOptions opt;
  opt.max_new_tokens = 6;
  opt.do_sample = true;
  opt.temperature = 1.5;
  opt.top_p = 0.9;
  opt.seed = 7;
  auto run = [&] { return generate_lvlm(*model, in.at("input_ids"), in.at("attention_mask"), in.at("pixel_values"), opt); };
  auto r1 = run(), r2 = run();
  EXPECT_TRUE(torch::equal(r1.generated_ids, r2.generated_ids));
  // top_k = 1 is greedy whatever the temperature.
  opt.top_k = 1;
  auto k1 = run();
  opt.do_sample = false;
  auto greedy = run();
  EXPECT_TRUE(torch::equal(k1.generated_ids, greedy.generated_ids)) << k1.generated_ids << greedy.generated_ids;

  opt.do_sample = true;
  opt.temperature = 0;
  EXPECT_THROW(run(), vr::Error);
  opt.temperature = 1;
  opt.top_p = 0;
  EXPECT_THROW(run(), vr::Error);
  opt.top_p = 1;
  // An image placeholder without an image.
  EXPECT_THROW(generate_lvlm(*model, in.at("input_ids"), at::Tensor(), at::Tensor(), opt), vr::Error);
}

}  // namespace model_lvlm_generate_test
