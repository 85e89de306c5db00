// make_tiny_model (`vrtrain make-tiny`): the files load as a working LVLM + tokenizer + processor, the size
// options reach the config, the weights are a function of the seed, and bad sizes are refused.
#include "vr/core/file_io.h"
#include "vr/model/tiny_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"
#include "vr/data/dataset.h"
#include "vr/image/image_processor.h"
#include "vr/data/loader.h"
#include "vr/text/tokenizer.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"

namespace model_tiny_model_test {

namespace fs = std::filesystem;

namespace {

// The LLM's depth and widths: layers, hidden, intermediate, heads, key-value heads.
std::vector<int64_t> text_shape(const vr::model::LvlmConfig& c) {
  return {c.text.num_hidden_layers, c.text.hidden_size, c.text.intermediate_size, c.text.num_attention_heads,
          c.text.num_key_value_heads};
}

std::string read_bytes(const std::string& path) {
  return vr::read_file(path);
}

TEST(TinyModel, SizeOptionsReachTheConfigAndTheModelRuns) {
  const std::string dir = vr::test::temp_dir("tiny_sizes") + "/m";
  vr::model::TinyModelOptions o;
  o.family = "bunny";
  o.num_layers = 3;
  o.hidden_size = 96;
  o.intermediate_size = 100;
  o.num_heads = 6;
  o.image_size = 28;
  vr::model::make_tiny_model(dir, o);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "preprocessor_config.json"})
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;

  vr::model::Lvlm m = vr::model::load_lvlm(dir);
  const auto& c = m->config();
  EXPECT_EQ(text_shape(c), (std::vector<int64_t>{3, 96, 100, 6, 3}));
  EXPECT_EQ(c.vision.image_size, 28);

  // One image (28 px / patch 14 = 4 image tokens) behind a -200 placeholder, as the data pipeline emits it.
  auto tok = vr::text::Tokenizer::from_path(dir);
  std::vector<int64_t> ids = tok.encode("What shape is it?");
  ids.insert(ids.begin(), -200);
  auto input_ids = torch::tensor(ids).unsqueeze(0);
  auto proc = vr::image::ImageProcessor::from_path(dir);
  vr::model::LvlmInputs in;
  in.input_ids = input_ids;
  in.attention_mask = torch::ones_like(input_ids);
  in.pixel_values = torch::randn({1, 3, 28, 28});
  vr::model::LvlmOutput out = m->forward(in);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, static_cast<int64_t>(ids.size()) + 3, c.text.vocab_size}));
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
}

TEST(TinyModel, WeightsAreAFunctionOfTheSeed) {
  const std::string root = vr::test::temp_dir("tiny_seed");
  vr::model::TinyModelOptions o;
  vr::model::make_tiny_model(root + "/a", o);
  vr::model::make_tiny_model(root + "/b", o);
  o.seed = 1;
  vr::model::make_tiny_model(root + "/c", o);
  const std::string a = read_bytes(root + "/a/model.safetensors");
  EXPECT_EQ(a, read_bytes(root + "/b/model.safetensors"));
  EXPECT_NE(a, read_bytes(root + "/c/model.safetensors"));
}

// --shapes: a named configuration's real widths (checked on the configuration: a Bunny-8B-wide model with 4 layers
// has 2.4e9 parameters, too big to write in a unit test) with the tiny tokenizer's in-vocabulary special ids.
TEST(TinyModel, ShapesGiveTheNamedWidthsWithTinyTokenizerIds) {
  vr::model::TinyModelOptions o;
  o.shapes = "bunny-llama-3-8b-v";
  o.num_layers = 4;
  const auto c = vr::model::tiny_model_config(o);
  EXPECT_EQ(text_shape(c), (std::vector<int64_t>{4, 4096, 14336, 32, 8}));
  EXPECT_EQ(c.text.vocab_size, 128256);
  EXPECT_EQ(c.vision.hidden_size, 1152);
  EXPECT_EQ(c.vision.num_hidden_layers, 27);
  EXPECT_EQ(c.vision.image_size, 384);
  EXPECT_EQ(c.image_seq_length(), 729);
  EXPECT_GT(c.image_token_index, 255);  // the tiny tokenizer's <image>, inside the vocabulary (llava-hf)
  EXPECT_LT(c.image_token_index, 1000);
  EXPECT_LT(*c.pad_token_id, 1000);
  o.num_layers = 0;
  EXPECT_EQ(vr::model::tiny_model_config(o).text.num_hidden_layers, 32);
  o.num_layers = 33;
  EXPECT_THROW(vr::model::tiny_model_config(o), vr::Error);
  o.num_layers = 1;
  o.shapes = "llava-1.5-7b";
  EXPECT_EQ(vr::model::tiny_model_config(o).vision.image_size, 336);
  o.dtype = "fp16";
  EXPECT_THROW(vr::model::tiny_model_config(o), vr::Error);
}

// --dtype bf16 stores bf16 tensors that load and run.
TEST(TinyModel, Bf16WeightsLoadAndRun) {
  const std::string dir = vr::test::temp_dir("tiny_bf16") + "/m";
  vr::model::TinyModelOptions o;
  o.family = "bunny";
  o.dtype = "bf16";
  vr::model::make_tiny_model(dir, o);
  for (const auto& [name, t] : vr::load_safetensors(dir + "/model.safetensors"))
    EXPECT_EQ(t.scalar_type(), torch::kBFloat16) << name;
  vr::model::Lvlm m = vr::model::load_lvlm(dir);
  vr::model::LvlmInputs in;
  in.input_ids = torch::tensor(std::vector<int64_t>{1, -200, 40, 41}).unsqueeze(0);
  in.attention_mask = torch::ones_like(in.input_ids);
  in.pixel_values = torch::randn({1, 3, 56, 56}).to(m->language_model->lm_head->weight.scalar_type());
  EXPECT_TRUE(torch::isfinite(m->forward(in).logits.to(torch::kFloat)).all().item<bool>());
}

TEST(TinyModel, BadSizesAreRefusedWithTheFlagName) {
  const std::string dir = vr::test::temp_dir("tiny_bad") + "/m";
  auto error_of = [&](vr::model::TinyModelOptions o) -> std::string {
    try {
      vr::model::make_tiny_model(dir, o);
    } catch (const vr::Error& e) {
      return e.what();
    }
    return "";
  };
  vr::model::TinyModelOptions o;
  o.num_heads = 3;
  EXPECT_NE(error_of(o).find("--heads"), std::string::npos);
  o = {};
  o.hidden_size = 100;  // not a multiple of 2 x 4
  EXPECT_NE(error_of(o).find("--hidden"), std::string::npos);
  o = {};
  o.image_size = 50;
  EXPECT_NE(error_of(o).find("--image-size"), std::string::npos);
  o = {};
  o.num_layers = 0;
  EXPECT_NE(error_of(o).find("--layers"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir));
}

// The tiny tokenizers with the family's template supervise every synthetic sample: no sample falls into the
// reference's "tokenization mismatch" fallback (which masks the whole sample). Regression: the byte-level
// tiny tokenizer was treated as non-legacy SentencePiece, so every multi-round vicuna_v1 sample was masked
// and a batch of them gave a NaN loss.
TEST(TinyModel, EverySyntheticSampleIsSupervised) {
  const std::string root = vr::test::temp_dir("tiny_labels");
  for (const auto& [family, tpl] : {std::pair<std::string, std::string>{"llava", "vicuna_v1"}, {"bunny", "llama3"},
                                    {"llava", "plain"}}) {
    vr::model::TinyModelOptions o;
    o.family = family;
    vr::model::make_tiny_model(root + "/" + family, o);
    auto tok = vr::text::Tokenizer::from_path(root + "/" + family);
    auto proc = vr::image::ImageProcessor::from_path(root + "/" + family);
    vr::data::DatasetOptions d;
    d.path = "synthetic-shapes";
    d.template_name = tpl;
    d.synthetic_samples = 96;
    d.synthetic_image_size = 56;
    auto ds = vr::data::open_dataset(d);
    auto prepare = vr::data::make_sample_preparer(tok, proc, vr::image::AspectMode::Pad, tpl, 512);
    for (int64_t i = 0; i < ds->size(); ++i) {
      vr::data::PreparedSample p = prepare(ds->get(i), i);
      EXPECT_FALSE(p.tokens.mismatch) << family << "/" << tpl << " sample " << i;
      EXPECT_TRUE(std::any_of(p.tokens.labels.begin(), p.tokens.labels.end(), [](int64_t l) { return l >= 0; }))
          << family << "/" << tpl << " sample " << i;
    }
  }
}

}  // namespace

}  // namespace model_tiny_model_test
