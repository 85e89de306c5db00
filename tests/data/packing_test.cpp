// Sequence packing on the data side: first-fit-decreasing on hand-built lengths (known result), the plan's
// statistics, merged lengths, the packed collator, and the loader's packed order (a function of the seed alone:
// W ranks of B rows see what one process with W micro-batches of B rows sees; exact resume; every sample once).
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/solid_image.h"
#include "vr/core/error.h"
#include "vr/data/loader.h"
#include "vr/data/packing.h"

namespace data_packing_test {

using namespace vr::data;

namespace {

// Record i: text of length 3 + (i * 7) % 23, an image (placeholder at position 1) unless i % 4 == 3.
class LengthDataset : public Dataset {
 public:
  explicit LengthDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  std::string source() const override { return "lengths"; }
  Sample get(int64_t i) const override {
    Sample s;
    s.id = std::to_string(i);
    s.conversations = {{"human", "q"}, {"gpt", "a"}};
    if (i % 4 != 3) s.images.push_back(vr::test::solid_image(1, static_cast<uint8_t>(i % 256)));
    return s;
  }

 private:
  int64_t n_;
};

constexpr int64_t kF = 5;  // image slots per image in these tests

SamplePreparer preparer() {
  return [](const Sample& s, int64_t index) {
    PreparedSample p;
    p.id = s.id;
    p.index = index;
    const int64_t len = 3 + (index * 7) % 23;
    for (int64_t t = 0; t < len; ++t) {
      const bool image = t == 1 && s.num_images() > 0;
      p.tokens.input_ids.push_back(image ? kImageTokenIndex : 10 + t);
      p.tokens.labels.push_back(t < 2 || image ? kIgnoreIndex : 10 + t);
    }
    for (const auto& img : s.images) p.pixels.push_back(at::full({3, 1, 1}, static_cast<float>(img.pixels[0])));
    return p;
  };
}

LoaderOptions packed_options(int64_t batch, int64_t rank, int64_t world, uint64_t seed) {
  LoaderOptions o;
  o.batch_size = batch;
  o.rank = rank;
  o.world_size = world;
  o.seed = seed;
  o.num_workers = 0;
  o.model_max_length = 40;
  o.packing.enabled = true;
  o.packing.pack_length = 32;
  o.packing.buffer = 16;
  o.packing.image_tokens = kF;
  return o;
}

DataLoader make_loader(int64_t n, const LoaderOptions& o) {
  return DataLoader(std::make_shared<LengthDataset>(n), preparer(), CollateOptions{0, false, o.model_max_length}, o);
}

// Per step, the sample indices of each row (segment order), as the batch lays them out.
std::vector<std::vector<int64_t>> rows_of(const Batch& b) {
  std::vector<std::vector<int64_t>> rows(b.input_ids.size(0));
  size_t k = 0;
  for (int64_t r = 0; r < b.input_ids.size(0); ++r) {
    const int64_t segments = b.segment_ids[r].max().item<int64_t>() + 1;
    for (int64_t s = 0; s < segments; ++s) rows[r].push_back(b.sample_indices[k++]);
  }
  EXPECT_EQ(k, b.sample_indices.size());
  return rows;
}

}  // namespace

TEST(PackingFfd, HandBuiltLengthsGiveTheKnownRows) {
  // Sorted: 12 (over-long: own row), 9, 8, 7, 6, 5, 4, 3, 2 into rows of 10.
  const std::vector<int64_t> lengths{5, 9, 3, 7, 2, 8, 4, 6, 12};
  const auto rows = first_fit_decreasing(lengths, 10);
  const std::vector<std::vector<int64_t>> expected{{8}, {1}, {5, 4}, {3, 2}, {7, 6}, {0}};
  EXPECT_EQ(rows, expected);

  std::vector<int64_t> order(lengths.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  uint64_t rng = 1;
  const PackPlan plan = plan_packs(order, lengths, 10, 100, rng);
  EXPECT_EQ(plan.stats.rows, 6);
  EXPECT_EQ(plan.stats.samples, 9);
  EXPECT_EQ(plan.stats.tokens, 56);
  EXPECT_EQ(plan.stats.slots, 5 * 10 + 12);  // the over-long row counts its own length
  EXPECT_DOUBLE_EQ(plan.stats.samples_per_row(), 1.5);
  EXPECT_DOUBLE_EQ(plan.stats.padding_share(), 6.0 / 62.0);
  // The rows are FFD's, shuffled.
  std::set<std::vector<int64_t>> got(plan.rows.begin(), plan.rows.end()), want(expected.begin(), expected.end());
  EXPECT_EQ(got, want);
}

TEST(PackingFfd, BuffersArePackedSeparately) {
  // Two buffers of 3: {6, 6, 6} and {4, 4, 4} into rows of 10: no row may mix buffers, so 3 + 2 rows, whereas one
  // buffer would give 3 rows of 6 + 4.
  const std::vector<int64_t> lengths{6, 6, 6, 4, 4, 4};
  const std::vector<int64_t> order{0, 1, 2, 3, 4, 5};
  uint64_t rng = 7;
  PackPlan two = plan_packs(order, lengths, 10, 3, rng);
  EXPECT_EQ(two.stats.rows, 5);
  for (const auto& row : two.rows) {
    const bool first = row[0] < 3;
    for (int64_t i : row) EXPECT_EQ(i < 3, first);
  }
  PackPlan one = plan_packs(order, lengths, 10, 6, rng);
  EXPECT_EQ(one.stats.rows, 3);
  EXPECT_DOUBLE_EQ(one.stats.padding_share(), 0.0);
}

TEST(PackingMergedLength, ImagesCountTheirSlotsAndTruncationApplies) {
  EXPECT_EQ(merged_length({1, kImageTokenIndex, 5, 6}, 576, 2048), 3 + 576);
  EXPECT_EQ(merged_length({1, kImageTokenIndex, 5, 6}, 729, 2048), 3 + 729);
  EXPECT_EQ(merged_length({1, 2, 3, kImageTokenIndex}, 16, 3), 3);  // the placeholder is cut off with the ids
  EXPECT_EQ(merged_length({1, kImageTokenIndex, 5, 6}, 16, 10), 10);  // the merged cap
}

TEST(PackingCollate, RowsConcatenateSamplesWithSegmentsAndNoCrossingLabel) {
  auto sample = [](std::vector<int64_t> ids, std::vector<int64_t> labels, int images, float value, int64_t index) {
    PreparedSample s;
    s.tokens.input_ids = std::move(ids);
    s.tokens.labels = std::move(labels);
    for (int i = 0; i < images; ++i) s.pixels.push_back(at::full({3, 1, 1}, value + i));
    s.id = "s" + std::to_string(index);
    s.index = index;
    return s;
  };
  std::vector<std::vector<PreparedSample>> rows{
      {sample({1, kImageTokenIndex, 7, 8}, {-100, -100, 7, 8}, 1, 10, 0), sample({1, 9, 9}, {5, 9, 9}, 0, 0, 1)},
      {sample({1, kImageTokenIndex, 3, kImageTokenIndex, 4}, {-100, -100, 3, -100, 4}, 2, 20, 2)}};
  Batch b = collate_packed(rows, CollateOptions{0, false, 2048});
  ASSERT_EQ(b.input_ids.sizes(), (at::IntArrayRef{2, 7}));
  EXPECT_TRUE(b.input_ids[0].equal(at::tensor({1, -200, 7, 8, 1, 9, 9}, at::kLong)));
  // The second sample's first label (5) is dropped: no target crosses the boundary.
  EXPECT_TRUE(b.labels[0].equal(at::tensor({-100, -100, 7, 8, -100, 9, 9}, at::kLong)));
  EXPECT_TRUE(b.segment_ids[0].equal(at::tensor({0, 0, 0, 0, 1, 1, 1}, at::kLong)));
  EXPECT_TRUE(b.segment_ids[1].equal(at::tensor({0, 0, 0, 0, 0, -1, -1}, at::kLong)));
  EXPECT_TRUE(b.attention_mask[1].equal(at::tensor({1, 1, 1, 1, 1, 0, 0}, at::kLong)));
  EXPECT_TRUE(b.labels[1].slice(0, 5).eq(-100).all().item<bool>());
  ASSERT_EQ(b.pixel_values.size(0), 3);
  EXPECT_EQ(b.pixel_values[0][0][0][0].item<float>(), 10);
  EXPECT_EQ(b.pixel_values[1][0][0][0].item<float>(), 20);
  EXPECT_EQ(b.pixel_values[2][0][0][0].item<float>(), 21);
  EXPECT_EQ(b.ids, (std::vector<std::string>{"s0", "s1", "s2"}));
  EXPECT_EQ(b.num_text_tokens, 12);
}

TEST(PackingLoader, RowsFitAndEverySampleComesOnce) {
  const int64_t n = 50;
  DataLoader loader = make_loader(n, packed_options(2, 0, 1, 3));
  const PackingStats plan = loader.packing_plan();
  EXPECT_EQ(plan.samples, n);
  EXPECT_EQ(loader.batches_per_epoch(), (plan.rows + 1) / 2);
  std::map<int64_t, int> seen;
  int64_t rows = 0;
  while (auto b = loader.next()) {
    // Merged row lengths within pack_length (no sample here is over-long).
    auto is_image = b->input_ids.eq(kImageTokenIndex).to(at::kLong);
    auto merged = (b->attention_mask + is_image * (kF - 1)).sum(1);
    EXPECT_LE(merged.max().item<int64_t>(), 32);
    for (const auto& row : rows_of(*b)) {
      ++rows;
      for (int64_t i : row) seen[i]++;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), n);  // all samples; the wrapped-around last rows repeat a few
  int64_t total = 0;
  for (auto& [i, c] : seen) total += c;
  EXPECT_EQ(rows, loader.batches_per_epoch() * 2);
  EXPECT_GE(total, n);
  EXPECT_LT(plan.padding_share(), 0.25);
  EXPECT_GT(plan.samples_per_row(), 1.5);
}

TEST(PackingLoader, OrderIsTheSeedsAloneAcrossWorldSizes) {
  // 1 process with micro-batches of 2 rows == 2 ranks with 1 row each, step by step; another seed differs.
  const int64_t n = 60;
  DataLoader one = make_loader(n, packed_options(2, 0, 1, 9));
  DataLoader r0 = make_loader(n, packed_options(1, 0, 2, 9));
  DataLoader r1 = make_loader(n, packed_options(1, 1, 2, 9));
  ASSERT_EQ(one.batches_per_epoch(), r0.batches_per_epoch());
  ASSERT_EQ(r0.batches_per_epoch(), r1.batches_per_epoch());
  std::vector<std::vector<int64_t>> all_one, all_two;
  while (auto b = one.next()) {
    auto a = r0.next(), c = r1.next();
    ASSERT_TRUE(a && c);
    auto rows = rows_of(*b), ra = rows_of(*a), rc = rows_of(*c);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], ra[0]);
    EXPECT_EQ(rows[1], rc[0]);
    EXPECT_TRUE(b->input_ids.slice(0, 0, 1).slice(1, 0, a->input_ids.size(1)).equal(a->input_ids));
    all_one.insert(all_one.end(), rows.begin(), rows.end());
  }
  DataLoader other = make_loader(n, packed_options(2, 0, 1, 10));
  while (auto b = other.next()) {
    auto rows = rows_of(*b);
    all_two.insert(all_two.end(), rows.begin(), rows.end());
  }
  EXPECT_NE(all_one, all_two);
}

TEST(PackingLoader, ResumeContinuesWithTheSameRows) {
  const int64_t n = 60;
  auto opt = packed_options(2, 0, 1, 4);
  opt.num_workers = 2;  // threads build rows ahead: the order must not depend on them
  DataLoader full = make_loader(n, opt);
  std::vector<std::vector<std::vector<int64_t>>> expected;
  for (int e = 0; e < 2; ++e)
    while (auto b = full.next()) expected.push_back(rows_of(*b));
  DataLoader first = make_loader(n, opt);
  const int64_t k = 3;
  for (int64_t s = 0; s < k; ++s) ASSERT_TRUE(first.next());
  const std::string saved = first.state().to_json();
  DataLoader resumed = make_loader(n, opt);
  resumed.restore(LoaderState::from_json(saved));
  std::vector<std::vector<std::vector<int64_t>>> got;
  for (int e = 0; e < 2; ++e)
    while (auto b = resumed.next()) got.push_back(rows_of(*b));
  ASSERT_EQ(static_cast<int64_t>(got.size()), static_cast<int64_t>(expected.size()) - k);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i + k]) << "batch " << i;
}

TEST(PackingLoader, RejectsAPackLengthAboveModelMaxLength) {
  auto opt = packed_options(1, 0, 1, 0);
  opt.packing.pack_length = 64;  // model_max_length 40
  EXPECT_THROW(make_loader(10, opt), vr::Error);
}

}  // namespace data_packing_test
