// DataLoader mechanics (order, sharding, grouping, restore, workers, bad records) and the collator, with a
// fake tokenizer and tiny in-memory images; the full pipeline is in loader_pipeline_test.cpp.
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/fake_encoder.h"
#include "data/solid_image.h"
#include "vr/core/error.h"
#include "vr/data/loader.h"
#include "vr/data/sampler.h"
#include "vr/data/template.h"

namespace data_loader_test {

using namespace vr::data; using namespace vr::image;

namespace {

// Records "q<i>" / "answer <i>"; every third one text-only, `bad` ones throw on access.
class VectorDataset : public Dataset {
 public:
  VectorDataset(int64_t n, std::set<int64_t> bad = {}) : n_(n), bad_(std::move(bad)) {}
  int64_t size() const override { return n_; }
  std::string source() const override { return "vector"; }
  Sample get(int64_t i) const override {
    if (bad_.count(i)) throw vr::Error(record_error("vector", i, std::to_string(i), "deliberately bad"));
    Sample s;
    s.id = std::to_string(i);
    bool image = i % 3 != 2;
    s.conversations = {{"human", (image ? "<image>\nq" : "q") + std::to_string(i)},
                       {"gpt", "answer " + std::string(static_cast<size_t>(i % 5), 'x')}};
    if (image) s.images.push_back(vr::test::solid_image(2, static_cast<uint8_t>(i % 256)));
    return s;
  }

 private:
  int64_t n_;
  std::set<int64_t> bad_;
};

vr::test::FakeVocab& vocab() {
  static vr::test::FakeVocab v;
  return v;
}

SamplePreparer fake_preparer() {
  TextEncoder enc = vocab().encoder();
  return [enc](const Sample& s, int64_t index) {
    PreparedSample p;
    p.id = s.id;
    p.index = index;
    p.tokens = tokenize_conversation(s.conversations, s.num_images() > 0, conversation_template("vicuna_v1"), enc, 2048);
    for (const auto& img : s.images)
      p.pixels.push_back(at::full({3, 2, 2}, static_cast<float>(img.pixels[0])));
    return p;
  };
}

DataLoader make_loader(std::shared_ptr<Dataset> ds, LoaderOptions opt) {
  return DataLoader(std::move(ds), fake_preparer(), CollateOptions{0, false, opt.model_max_length}, opt);
}

std::vector<std::vector<int64_t>> epoch_indices(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  while (auto b = loader.next()) out.push_back(b->sample_indices);
  return out;
}

}  // namespace

TEST(Sampler, GroupedIndicesFollowLlavaSemantics) {
  // 10 image samples (positive) and 7 text-only (negative), batch 2 x world 2 = megabatches of 4.
  std::vector<int64_t> lengths;
  for (int i = 0; i < 10; ++i) lengths.push_back(10 + i);
  for (int i = 0; i < 7; ++i) lengths.push_back(-(5 + i));
  uint64_t rng = 42;
  auto order = modality_length_grouped_indices(lengths, 2, 2, rng);
  ASSERT_EQ(order.size(), lengths.size());
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), lengths.size());
  // Full megabatches (2 image + 1 text) are single-modality; the last one (2 image + 3 text left) is mixed.
  for (size_t mb = 0; mb + 4 <= 12; mb += 4) {
    bool image = lengths[order[mb]] > 0;
    for (size_t k = mb; k < mb + 4; ++k) EXPECT_EQ(lengths[order[k]] > 0, image) << "megabatch at " << mb;
  }
  std::vector<int64_t> tail(order.begin() + 12, order.end());
  EXPECT_TRUE(std::is_sorted(tail.begin(), tail.end()));
  // Within a megabatch each rank's chunk is balanced: longest first, then greedy.
  uint64_t rng2 = 1;
  auto grouped = length_grouped_indices({1, 2, 3, 4, 5, 6, 7, 8}, 4, 2, rng2);
  ASSERT_EQ(grouped.size(), 8u);
}

TEST(Loader, EveryRecordOncePerEpochDeterministicPerSeed) {
  auto ds = std::make_shared<VectorDataset>(24);
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.seed = 3;
  auto l1 = make_loader(ds, opt);
  auto l2 = make_loader(ds, opt);
  EXPECT_EQ(l1.batches_per_epoch(), 6);
  auto e0 = epoch_indices(l1), e1 = epoch_indices(l1);
  EXPECT_EQ(epoch_indices(l2), e0);
  std::multiset<int64_t> seen;
  for (const auto& b : e0) seen.insert(b.begin(), b.end());
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 24u);
  EXPECT_NE(e0, e1);  // reshuffled each epoch
  opt.seed = 4;
  auto l3 = make_loader(ds, opt);
  EXPECT_NE(epoch_indices(l3), e0);
  EXPECT_EQ(l1.state().epoch, 2u);
}

TEST(Loader, WorkerCountDoesNotChangeTheBatches) {
  auto ds = std::make_shared<VectorDataset>(30);
  std::vector<std::vector<int64_t>> ref;
  for (int64_t workers : {0, 1, 2, 3}) {
    LoaderOptions opt;
    opt.batch_size = 3;
    opt.num_workers = workers;
    opt.prefetch = 2;
    auto loader = make_loader(ds, opt);
    std::vector<std::vector<int64_t>> got;
    while (auto b = loader.next()) {
      got.push_back(b->sample_indices);
      got.push_back(std::vector<int64_t>(b->input_ids.data_ptr<int64_t>(), b->input_ids.data_ptr<int64_t>() + b->input_ids.numel()));
    }
    if (ref.empty()) ref = got;
    EXPECT_EQ(got, ref) << workers << " workers";
  }
}

TEST(Loader, RestoreContinuesExactlyWhereTheRunStopped) {
  auto ds = std::make_shared<VectorDataset>(21);
  LoaderOptions opt;
  opt.batch_size = 4;  // 6 batches per epoch, the last one wraps around
  opt.seed = 11;
  auto reference = make_loader(ds, opt);
  std::vector<std::vector<int64_t>> all;
  for (int e = 0; e < 3; ++e)
    for (auto b : epoch_indices(reference)) all.push_back(b);
  ASSERT_EQ(all.size(), 18u);
  for (int stop_after : {0, 4, 6, 7, 13}) {
    auto first = make_loader(ds, opt);
    std::vector<std::vector<int64_t>> got;
    while (static_cast<int>(got.size()) < stop_after)
      if (auto b = first.next()) got.push_back(b->sample_indices);
    std::string saved = first.state().to_json();
    LoaderOptions other = opt;
    other.seed = 999;  // the saved state carries the seed
    auto resumed = make_loader(ds, other);
    resumed.restore(LoaderState::from_json(saved));
    while (got.size() < all.size())
      if (auto b = resumed.next()) got.push_back(b->sample_indices);
    EXPECT_EQ(got, all) << "stopped after " << stop_after;
  }
  EXPECT_THROW(LoaderState::from_json("{\"epoch\": 1}"), vr::Error);
}

TEST(Loader, ShardsHaveEqualStepsAndCoverTheData) {
  for (int64_t n : {40, 37, 5}) {
    auto ds = std::make_shared<VectorDataset>(n);
    std::multiset<int64_t> seen;
    std::vector<int64_t> steps;
    for (int64_t rank = 0; rank < 3; ++rank) {
      LoaderOptions opt;
      opt.batch_size = 4;
      opt.world_size = 3;
      opt.rank = rank;
      auto loader = make_loader(ds, opt);
      auto batches = epoch_indices(loader);
      steps.push_back(static_cast<int64_t>(batches.size()));
      EXPECT_EQ(loader.batches_per_epoch(), (n + 11) / 12);
      for (const auto& b : batches) {
        EXPECT_EQ(b.size(), 4u);
        seen.insert(b.begin(), b.end());
      }
    }
    EXPECT_EQ(steps[0], steps[1]);
    EXPECT_EQ(steps[1], steps[2]);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), static_cast<size_t>(n));  // all covered
    EXPECT_EQ(static_cast<int64_t>(seen.size()), steps[0] * 12);  // wrap-around fills the last global batch
  }
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.drop_last = true;
  auto loader = make_loader(std::make_shared<VectorDataset>(10), opt);
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  opt.batch_size = 11;
  EXPECT_THROW(make_loader(std::make_shared<VectorDataset>(10), opt), vr::Error);
}

TEST(Loader, GroupByModalityKeepsModalitiesApart) {
  auto ds = std::make_shared<VectorDataset>(60);  // 40 with image, 20 text-only
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.shuffle = true;
  opt.group_by_modality_length = true;
  auto loader = make_loader(ds, opt);
  auto batches = epoch_indices(loader);
  ASSERT_EQ(batches.size(), 15u);
  // LLaVA always merges the last image megabatch and the last text megabatch (4 + 4 records here) into one
  // sorted tail; every other batch holds one modality.
  for (size_t k = 0; k + 2 < batches.size(); ++k) {
    std::set<bool> kinds;
    for (int64_t i : batches[k]) kinds.insert(i % 3 != 2);
    EXPECT_EQ(kinds.size(), 1u) << "batch " << k;
  }
  std::vector<int64_t> tail = batches[13];
  tail.insert(tail.end(), batches[14].begin(), batches[14].end());
  EXPECT_TRUE(std::is_sorted(tail.begin(), tail.end()));
  EXPECT_EQ(std::count_if(tail.begin(), tail.end(), [](int64_t i) { return i % 3 == 2; }), 4);
}

TEST(Loader, BadRecordsFailOrAreSkippedDeterministically) {
  std::set<int64_t> bad = {1, 2, 3, 17};
  auto strict = std::make_shared<VectorDataset>(20, bad);
  LoaderOptions opt;
  opt.batch_size = 5;
  opt.shuffle = false;
  auto loader = make_loader(strict, opt);
  try {
    loader.next();
    FAIL() << "no error";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("vector: record 1 (id '1'): deliberately bad"), std::string::npos) << e.what();
  }

  std::vector<std::vector<int64_t>> ref;
  for (int64_t workers : {0, 2}) {
    auto skipping = std::make_shared<VectorDataset>(20, bad);
    skipping->set_skip_bad_records(true);
    opt.num_workers = workers;
    auto l = make_loader(skipping, opt);
    auto batches = epoch_indices(l);
    ASSERT_EQ(batches.size(), 4u);
    for (const auto& b : batches) {
      EXPECT_EQ(b.size(), 5u);
      for (int64_t i : b) EXPECT_EQ(bad.count(i), 0u);
    }
    // Sequential order: slot 1 (bad) -> 4, slots 2, 3 (bad) -> 4, and record 17 -> 18.
    EXPECT_EQ(batches[0], (std::vector<int64_t>{0, 4, 4, 4, 4}));
    EXPECT_EQ(batches[3], (std::vector<int64_t>{15, 16, 18, 18, 19}));
    EXPECT_EQ(l.stats().bad_records, 4);
    if (ref.empty()) ref = batches;
    EXPECT_EQ(batches, ref);
  }
}

TEST(Collate, PadsMasksAndTruncates) {
  auto make = [](std::vector<int64_t> ids, int images, const std::string& id) {
    PreparedSample p;
    p.tokens.input_ids = ids;
    p.tokens.labels = ids;
    p.tokens.labels[0] = kIgnoreIndex;
    for (int k = 0; k < images; ++k) p.pixels.push_back(at::full({3, 2, 2}, static_cast<float>(k)));
    p.id = id;
    return p;
  };
  // Llama-2 style: pad 0.
  Batch b = collate({make({1, kImageTokenIndex, 5, 6, 2}, 1, "a"), make({1, 7, 2}, 0, "b")}, {0, false, 2048});
  EXPECT_EQ(b.input_ids.sizes(), (at::IntArrayRef{2, 5}));
  EXPECT_TRUE(b.input_ids[1].equal(at::tensor({1, 7, 2, 0, 0}, at::kLong)));
  EXPECT_TRUE(b.labels[1].equal(at::tensor({-100, 7, 2, -100, -100}, at::kLong)));
  EXPECT_TRUE(b.attention_mask[1].equal(at::tensor({1, 1, 1, 0, 0}, at::kLong)));
  EXPECT_EQ(b.num_text_tokens, 8);
  EXPECT_EQ(b.pixel_values.sizes(), (at::IntArrayRef{1, 3, 2, 2}));
  EXPECT_EQ(b.ids, (std::vector<std::string>{"a", "b"}));

  // Bunny style: pad == eos (9); real eos ids stay attended, padding does not.
  Batch e = collate({make({1, 4, 9}, 0, "x"), make({1, 9, 4, 5, 9}, 0, "y")}, {9, true, 2048});
  EXPECT_TRUE(e.input_ids[0].equal(at::tensor({1, 4, 9, 9, 9}, at::kLong)));
  EXPECT_TRUE(e.attention_mask[0].equal(at::tensor({1, 1, 1, 0, 0}, at::kLong)));
  EXPECT_TRUE(e.attention_mask[1].equal(at::tensor({1, 1, 1, 1, 1}, at::kLong)));
  // Without the rule an eos that equals pad would be masked out.
  Batch plain_pad = collate({make({1, 9, 4}, 0, "z")}, {9, false, 2048});
  EXPECT_TRUE(plain_pad.attention_mask[0].equal(at::tensor({1, 0, 1}, at::kLong)));

  // Truncation drops the image whose placeholder is cut off; no images -> undefined tensor.
  Batch t = collate({make({1, 5, 6, kImageTokenIndex, 2}, 1, "a")}, {0, false, 3});
  EXPECT_EQ(t.input_ids.sizes(), (at::IntArrayRef{1, 3}));
  EXPECT_FALSE(t.pixel_values.defined());
  EXPECT_THROW(collate({}, {}), vr::Error);
}

TEST(Loader, BatchesCarryPlaceholdersAndImagesInOrder) {
  auto ds = std::make_shared<VectorDataset>(9);
  LoaderOptions opt;
  opt.batch_size = 3;
  opt.shuffle = false;
  auto loader = make_loader(ds, opt);
  auto b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sample_indices, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ((b->input_ids == kImageTokenIndex).sum().item<int64_t>(), 2);  // record 2 is text-only
  ASSERT_EQ(b->pixel_values.size(0), 2);
  EXPECT_EQ(b->pixel_values[1][0][0][0].item<float>(), 1.0f);  // record 1's image
  EXPECT_EQ(b->input_ids.dtype(), at::kLong);
  EXPECT_EQ(b->attention_mask.dtype(), at::kLong);
}

}  // namespace data_loader_test
