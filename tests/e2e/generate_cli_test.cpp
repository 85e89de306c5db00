// End-to-end: `vrtrain generate` scripting mode on the generation fixtures (HF generate, greedy, KV cache):
// ids exact, step logits in the model_fp32 class (atol 1e-4, rtol 1e-4; measured ~1e-6).
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"

namespace e2e_generate_cli_test {

namespace {

using TensorMap = std::map<std::string, at::Tensor>;
using vr::test::run_vrtrain;

std::string fx(const std::string& rel) { return vr::test::fixtures_dir() + "/" + rel; }

void expect_matches(const TensorMap& got, const TensorMap& ex, const std::string& tag) {
  for (const char* n : {"sequences", "generated_ids", "unfinished"}) {
    ASSERT_TRUE(got.count(n)) << tag << ": missing " << n;
    EXPECT_TRUE(torch::equal(got.at(n), ex.at(n))) << tag << " " << n << "\n" << got.at(n) << "\n" << ex.at(n);
  }
  EXPECT_TRUE(vr::test::model_close(got.at("step_logits"), ex.at("step_logits"), tag + " step_logits"));
}

TEST(GenerateCli, LlamaLeftPaddedBatchWithEosMatchesHf) {
  VR_REQUIRE_FIXTURE("generation/llama_gqa");
  const std::string dir = vr::test::temp_dir("generate_llama");
  const TensorMap ex = vr::load_safetensors(fx("generation/llama_gqa/expected.safetensors"));
  // Settings from the fixture's generation_config.json (eos 136, pad 0, 12 new ids).
  auto r = run_vrtrain("generate --model " + fx("llama_gqa") + " --inputs " +
                           fx("generation/llama_gqa/inputs.safetensors") + " --output " + dir +
                           "/a.safetensors --threads 1 --generation-config " +
                           fx("generation/llama_gqa/generation_config.json"),
                       dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  TensorMap a = vr::load_safetensors(dir + "/a.safetensors");
  expect_matches(a, ex, "generation-config");
  EXPECT_TRUE(torch::equal(a.at("final_attention_mask"), ex.at("final_attention_mask")));
  EXPECT_EQ(a.at("prompt_length").item<int64_t>(), 9);

  // The same from flags; the checkpoint's own generation_config.json (eos 2) is overridden.
  r = run_vrtrain("generate --model " + fx("llama_gqa") + " --inputs " + fx("generation/llama_gqa/inputs.safetensors") +
                      " --output " + dir + "/b.safetensors --threads 1 --eos-token-id 136 --pad-token-id 0 "
                      "--max-new-tokens 12",
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_matches(vr::load_safetensors(dir + "/b.safetensors"), ex, "flags");
}

TEST(GenerateCli, LlavaImagePromptMatchesHf) {
  VR_REQUIRE_FIXTURE("generation/llava");
  const std::string dir = vr::test::temp_dir("generate_llava");
  auto r = run_vrtrain("generate --model " + fx("llava") + " --inputs " + fx("generation/llava/inputs.safetensors") +
                           " --output " + dir + "/o.safetensors --threads 1 --max-new-tokens 12",
                       dir);  // eos 2 and pad 257 are the checkpoint's own (text_config / config.json)
  ASSERT_EQ(r.exit_code, 0) << r.output;
  TensorMap o = vr::load_safetensors(dir + "/o.safetensors");
  expect_matches(o, vr::load_safetensors(fx("generation/llava/expected.safetensors")), "llava");
  EXPECT_EQ(o.at("prompt_length").item<int64_t>(), 23);
}

TEST(GenerateCli, BadInputsGiveClearErrors) {
  VR_REQUIRE_FIXTURE("generation/llava");
  const std::string dir = vr::test::temp_dir("generate_errors");
  // An image for a text-only checkpoint.
  auto r = run_vrtrain("generate --model " + fx("llama_gqa") + " --inputs " + fx("generation/llava/inputs.safetensors") +
                           " --output " + dir + "/o.safetensors",
                       dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("pixel_values"), std::string::npos) << r.output;
  // --inputs without --output; an unknown flag; no mode at all.
  r = run_vrtrain("generate --model " + fx("llama_gqa") + " --inputs " + fx("generation/llava/inputs.safetensors"), dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--output"), std::string::npos) << r.output;
  r = run_vrtrain("generate --model " + fx("llama_gqa") + " --bogus 1", dir);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_vrtrain("generate --model " + fx("llama_gqa"), dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--prompt"), std::string::npos) << r.output;
}

// People's mode on a tiny random LVLM (its answers are noise; what is checked is the plumbing): template, tokenizer,
// image, streaming, a batch file as JSON lines, seeded sampling reproducible, clear errors.
TEST(GenerateCli, PeoplesModeOnTheTinyModel) {
  VR_REQUIRE_FIXTURE("llama_gqa");
  const std::string dir = vr::test::temp_dir("generate_chat");
  auto r = run_vrtrain("make-tiny --output " + dir + "/tiny", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string img = std::string(VR_TEST_DATA_DIR) + "/eval/images/red_square.png";
  const std::string base = "generate --model " + dir + "/tiny --threads 1 --max-new-tokens 6 ";
  r = run_vrtrain(base + "--image " + img + " --prompt \"What colour is the shape?\"", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[generate] 1 rows"), std::string::npos) << r.output;

  vr::atomic_write_file(dir + "/q.jsonl", "{\"prompt\": \"What shape is it?\", \"images\": [\"" + img +
                                              "\"]}\n\n{\"prompt\": \"Say something.\"}\n");
  r = run_vrtrain(base + "--batch-file " + dir + "/q.jsonl", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  size_t answers = 0;
  for (size_t p = r.output.find("{\"answer\""); p != std::string::npos; p = r.output.find("{\"answer\"", p + 1)) ++answers;
  EXPECT_EQ(answers, 2u) << r.output;

  auto a = run_vrtrain(base + "--prompt hello --temperature 1.5 --top-p 0.95 --seed 5 --no-stream", dir);
  auto b = run_vrtrain(base + "--prompt hello --temperature 1.5 --top-p 0.95 --seed 5 --no-stream", dir);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);

  r = run_vrtrain("generate --model " + fx("llama_gqa") + " --prompt hello", dir);  // no tokenizer.json there
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tokenizer"), std::string::npos) << r.output;
  r = run_vrtrain(base + "--image " + img + " --prompt \"<image> and <image>\"", dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("marks 2 images"), std::string::npos) << r.output;
}

}  // namespace

}  // namespace e2e_generate_cli_test
