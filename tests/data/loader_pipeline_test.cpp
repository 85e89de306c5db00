// The full pipeline: JSON dataset with image files (good, missing, corrupt) or synthetic-shapes, the real
// tokenizer and image processor, through DataLoader.
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/data/json_dataset.h"
#include "vr/data/loader.h"
#include "vr/data/synthetic_shapes.h"

namespace data_loader_pipeline_test {

using namespace vr::data; using namespace vr::text; using namespace vr::image;

namespace {

// A w x h 24-bit BMP (bottom-up rows padded to 4 bytes), filled with one colour.
std::string bmp(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  const int row = (w * 3 + 3) / 4 * 4;
  const uint32_t size = 54 + row * h;
  std::string out(size, '\0');
  auto put32 = [&](int at, uint32_t v) {
    for (int k = 0; k < 4; ++k) out[at + k] = static_cast<char>((v >> (8 * k)) & 0xff);
  };
  out[0] = 'B', out[1] = 'M';
  put32(2, size);
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<uint32_t>(w));
  put32(22, static_cast<uint32_t>(h));
  out[26] = 1;
  out[28] = 24;
  put32(34, row * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      out[54 + y * row + 3 * x] = static_cast<char>(b);
      out[54 + y * row + 3 * x + 1] = static_cast<char>(g);
      out[54 + y * row + 3 * x + 2] = static_cast<char>(r);
    }
  return out;
}

std::string record(const std::string& id, const std::string& image) {
  std::string img = image.empty() ? "" : ", \"image\": \"" + image + "\"";
  std::string q = image.empty() ? "Hi" : "<image>\\nWhat colour?";
  return "{\"id\": \"" + id + "\"" + img + ", \"conversations\": [{\"from\": \"human\", \"value\": \"" + q +
         "\"}, {\"from\": \"gpt\", \"value\": \"red\"}]}\n";
}

std::string llama2() { return vr::test::fixtures_dir() + "/tokenizers/llama2"; }

}  // namespace

TEST(LoaderPipeline, JsonWithImagesMissingAndCorruptFiles) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  auto dir = vr::test::temp_dir("loader_pipeline");
  std::ofstream(dir + "/red.bmp", std::ios::binary) << bmp(5, 3, 255, 0, 0);
  std::ofstream(dir + "/corrupt.png", std::ios::binary) << "\x89PNG\r\n\x1a\n garbage";
  std::ofstream(dir + "/d.jsonl") << record("good", "red.bmp") << record("text", "") << record("missing", "nope.jpg")
                                  << record("corrupt", "corrupt.png");
  auto tok = Tokenizer::from_path(llama2());
  LoaderOptions opt;
  opt.batch_size = 2;
  opt.shuffle = false;
  auto ds = std::make_shared<JsonDataset>(dir + "/d.jsonl", dir);

  DataLoader strict(ds, tok, ImageProcessor::clip(32), AspectMode::Pad, "vicuna_v1", opt);
  auto b = strict.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->ids, (std::vector<std::string>{"good", "text"}));
  EXPECT_EQ(b->pixel_values.sizes(), (at::IntArrayRef{1, 3, 32, 32}));
  EXPECT_EQ(b->input_ids.size(0), 2);
  EXPECT_EQ((b->input_ids == kImageTokenIndex).sum().item<int64_t>(), 1);
  EXPECT_EQ(b->input_ids[1][b->input_ids.size(1) - 1].item<int64_t>(), 0);  // text row padded with unk = 0
  try {
    strict.next();
    FAIL() << "no error for the missing image";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("record 2 (id 'missing')"), std::string::npos) << e.what();
  }

  ds->set_skip_bad_records(true);
  DataLoader skipping(ds, tok, ImageProcessor::clip(32), AspectMode::Pad, "vicuna_v1", opt);
  std::vector<std::string> ids;
  while (auto batch = skipping.next()) ids.insert(ids.end(), batch->ids.begin(), batch->ids.end());
  // Bad records 2 and 3 are replaced by the next good records in order (wrapping to 0).
  EXPECT_EQ(ids, (std::vector<std::string>{"good", "text", "good", "good"}));
  EXPECT_EQ(skipping.stats().bad_records, 2);
}

TEST(LoaderPipeline, SyntheticShapesWithLlama3) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  auto tok = Tokenizer::from_path(vr::test::fixtures_dir() + "/tokenizers/llama3");
  DatasetOptions dopt;
  dopt.path = "synthetic-shapes";
  dopt.synthetic_samples = 12;
  dopt.synthetic_image_size = 32;
  auto ds = open_dataset(dopt);
  LoaderOptions opt;
  opt.batch_size = 4;
  DataLoader loader(ds, tok, ImageProcessor::siglip(24), AspectMode::Pad, "llama3", opt);
  int64_t batches = 0;
  while (auto b = loader.next()) {
    ++batches;
    EXPECT_EQ(b->pixel_values.sizes(), (at::IntArrayRef{4, 3, 24, 24}));
    EXPECT_TRUE((b->input_ids.select(1, 0) == 128000).all().item<bool>());
    // pad == eos: the answers' <|end_of_text|> stays attended and supervised.
    auto eos = b->input_ids == 128001;
    auto real_eos = eos.logical_and(b->labels == 128001);
    EXPECT_GT(real_eos.sum().item<int64_t>(), 0);
    EXPECT_TRUE(b->attention_mask.masked_select(real_eos).eq(1).all().item<bool>());
    EXPECT_EQ(b->num_text_tokens, b->attention_mask.sum().item<int64_t>());
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(loader.stats().mismatched_samples, 0);
  EXPECT_THROW(DataLoader(ds, tok, ImageProcessor::siglip(24), AspectMode::Pad, "llama", opt), vr::Error);
}

// Random bytes and mutated BMP/PNG headers as image files: a vr::Error per record, never a crash.
TEST(LoaderPipeline, CorruptImagesNeverCrash) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  auto dir = vr::test::temp_dir("loader_fuzz");
  std::mt19937 rng(7);
  std::string good = bmp(6, 4, 10, 200, 30);
  std::ofstream jsonl(dir + "/d.jsonl");
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    std::string bytes = good;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % bytes.size();
      if (rng() % 3 == 0) bytes.resize(at);
      else if (!bytes.empty()) bytes[at % bytes.size()] = static_cast<char>(rng());
    }
    std::ofstream(dir + "/" + std::to_string(i) + ".bmp", std::ios::binary) << bytes;
    jsonl << record(std::to_string(i), std::to_string(i) + ".bmp");
  }
  jsonl.close();
  auto ds = std::make_shared<JsonDataset>(dir + "/d.jsonl", dir);
  auto tok = Tokenizer::from_path(llama2());
  auto prepare = make_sample_preparer(tok, ImageProcessor::clip(16), AspectMode::Pad, "vicuna_v1", 2048);
  int ok = 0, bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    try {
      prepare(ds->get(i), i);
      ++ok;
    } catch (const vr::Error&) {
      ++bad;
    }
  }
  EXPECT_EQ(ok + bad, n);
}

}  // namespace data_loader_pipeline_test
