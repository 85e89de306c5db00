// The batched image merge (SPEC §1.6) on hand-made sequences whose merged form is written out by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/image_merge.h"

namespace model_image_merge_test {

using namespace vr::model;

namespace {

constexpr int64_t IMG = -200;

// Embedding of token id v = [v, v] so merged embeddings can be read back as ids; image feature k of image n
// is [1000 + 10n + k, same].
at::Tensor embed(const at::Tensor& ids) { return ids.to(torch::kFloat).unsqueeze(-1).expand({-1, -1, 2}).contiguous(); }
at::Tensor features(int64_t n, int64_t f) {
  auto v = 1000 + 10 * torch::arange(n).unsqueeze(1) + torch::arange(f).unsqueeze(0);
  return v.to(torch::kFloat).unsqueeze(-1).expand({n, f, 2}).contiguous();
}
at::Tensor ids_of(const MergedSequence& m) { return m.inputs_embeds.select(2, 0).to(torch::kLong); }
at::Tensor t(std::vector<std::vector<int64_t>> rows) {
  std::vector<at::Tensor> r;
  for (auto& row : rows) r.push_back(torch::tensor(row));
  return torch::stack(r);
}

}  // namespace

TEST(ImageMerge, MultipleImagesTextOnlyRowsAndPadding) {
  // row 0: two images; row 1: text only; row 2: one image, right-padded (pad id 9).
  auto ids = t({{1, IMG, 5, IMG, 6}, {1, 7, 8, 4, 3}, {1, IMG, 5, 9, 9}});
  auto mask = t({{1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}});
  auto labels = t({{-100, -100, 5, -100, 6}, {-100, 7, 8, 4, 3}, {-100, -100, 5, -100, -100}});
  auto m = merge_image_features(ids, embed(ids), mask, labels, features(3, 2), IMG);
  // Row 0 = 3 text + 2·2 image = 7; row 1 = 5; row 2 = 2 text + 2 = 4.
  EXPECT_TRUE(torch::equal(m.lengths, torch::tensor({7, 5, 4})));
  EXPECT_TRUE(torch::equal(ids_of(m), t({{1, 1000, 1001, 5, 1010, 1011, 6},
                                         {1, 7, 8, 4, 3, 0, 0},
                                         {1, 1020, 1021, 5, 0, 0, 0}})));
  EXPECT_TRUE(torch::equal(m.labels, t({{-100, -100, -100, 5, -100, -100, 6},
                                        {-100, 7, 8, 4, 3, -100, -100},
                                        {-100, -100, -100, 5, -100, -100, -100}})));
  EXPECT_TRUE(torch::equal(m.attention_mask, t({{1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 0, 0, 0}})));
  EXPECT_TRUE(torch::equal(m.position_ids, t({{0, 1, 2, 3, 4, 5, 6}, {0, 1, 2, 3, 4, 1, 1}, {0, 1, 2, 3, 1, 1, 1}})));
  EXPECT_TRUE(torch::equal(m.image_token_mask.to(torch::kLong),
                           t({{0, 1, 1, 0, 1, 1, 0}, {0, 0, 0, 0, 0, 0, 0}, {0, 1, 1, 0, 0, 0, 0}})));
}

// Valid slots: the same sequence either way. Padded slots: the legacy merge zeroes them at position id 1; the
// expanded layout is transformers >= 4.45's, where nothing moves and a pad token keeps its embedding and its
// position id t (LlamaModel's arange).
TEST(ImageMerge, ExpandedRunMatchesPlaceholderOnValidSlotsAndKeepsPadTokensAsHf) {
  auto legacy = t({{1, IMG, 5, 6}, {1, 2, IMG, 9}});
  auto lmask = t({{1, 1, 1, 1}, {1, 1, 1, 0}});
  auto expanded = t({{1, IMG, IMG, IMG, 5, 6}, {1, 2, IMG, IMG, IMG, 9}});
  auto emask = t({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0}});
  auto elabels = t({{-100, -100, -100, -100, 5, 6}, {-100, 2, -100, -100, -100, 9}});
  auto f = features(2, 3);
  auto a = merge_image_features(legacy, embed(legacy), lmask, {}, f, IMG);
  auto b = merge_image_features(expanded, embed(expanded), emask, elabels, f, IMG, 0, MergeLayout::kAsHuggingFace);
  EXPECT_TRUE(torch::equal(a.attention_mask, b.attention_mask));
  auto valid = a.attention_mask.to(torch::kBool);
  EXPECT_TRUE(torch::equal(a.inputs_embeds.index({valid}), b.inputs_embeds.index({valid})));
  EXPECT_TRUE(torch::equal(a.position_ids.index({valid}), b.position_ids.index({valid})));
  EXPECT_TRUE(torch::equal(a.image_token_mask, b.image_token_mask));
  EXPECT_FALSE(a.labels.defined());
  // The padded slot (row 1, slot 5).
  EXPECT_EQ(ids_of(a)[1][5].item<int64_t>(), 0);
  EXPECT_EQ(a.position_ids[1][5].item<int64_t>(), 1);
  EXPECT_EQ(ids_of(b)[1][5].item<int64_t>(), 9);
  EXPECT_TRUE(torch::equal(b.position_ids, torch::arange(6).unsqueeze(0).expand({2, 6})));
  EXPECT_TRUE(torch::equal(b.labels, t({{-100, -100, -100, -100, 5, 6}, {-100, 2, -100, -100, -100, -100}})));
  EXPECT_TRUE(torch::equal(b.lengths, torch::tensor({6, 5})));
  // The compact layout (generation) is the legacy merge's for either convention.
  auto c = merge_image_features(expanded, embed(expanded), emask, {}, f, IMG);
  EXPECT_TRUE(torch::equal(a.inputs_embeds, c.inputs_embeds));
  EXPECT_TRUE(torch::equal(a.position_ids, c.position_ids));
}

// HF keeps left padding where it is in the expanded layout and runs text-only input unmerged: nothing moves.
TEST(ImageMerge, ExpandedAndTextOnlyInputKeepTheirLayout) {
  auto left = t({{1, IMG, IMG, 5}, {9, 1, IMG, IMG}});
  auto lmask = t({{1, 1, 1, 1}, {0, 1, 1, 1}});
  const auto hf = MergeLayout::kAsHuggingFace;
  auto m = merge_image_features(left, embed(left), lmask, {}, features(2, 2), IMG, 0, hf);
  EXPECT_TRUE(torch::equal(ids_of(m), t({{1, 1000, 1001, 5}, {9, 1, 1010, 1011}})));
  EXPECT_TRUE(torch::equal(m.attention_mask, lmask));
  auto text = t({{9, 1, 7, 8}, {1, 7, 9, 9}});
  auto tmask = t({{0, 1, 1, 1}, {1, 1, 0, 0}});
  auto tm = merge_image_features(text, embed(text), tmask, text, {}, IMG, /*max_length=*/3, hf);
  EXPECT_TRUE(torch::equal(ids_of(tm), t({{9, 1, 7}, {1, 7, 9}})));
  EXPECT_TRUE(torch::equal(tm.labels, t({{-100, 1, 7}, {1, 7, -100}})));
  EXPECT_TRUE(torch::equal(tm.position_ids, torch::arange(3).unsqueeze(0).expand({2, 3})));
  EXPECT_FALSE(tm.image_token_mask.any().item<bool>());
}

TEST(ImageMerge, LeftPaddingIsRemovedAndTruncationCutsRows) {
  auto right = t({{1, IMG, 5, 6}, {1, IMG, 7, 0}});
  auto rmask = t({{1, 1, 1, 1}, {1, 1, 1, 0}});
  auto left = t({{1, IMG, 5, 6}, {0, 1, IMG, 7}});
  auto lmask = t({{1, 1, 1, 1}, {0, 1, 1, 1}});
  auto f = features(2, 3);
  auto a = merge_image_features(right, embed(right), rmask, {}, f, IMG);
  auto b = merge_image_features(left, embed(left), lmask, {}, f, IMG);
  EXPECT_TRUE(torch::equal(a.inputs_embeds, b.inputs_embeds));
  auto cut = merge_image_features(right, embed(right), rmask, right, f, IMG, /*max_length=*/3);
  EXPECT_EQ(cut.inputs_embeds.size(1), 3);
  EXPECT_TRUE(torch::equal(ids_of(cut), t({{1, 1000, 1001}, {1, 1010, 1011}})));
  EXPECT_TRUE(torch::equal(cut.image_token_mask.sum(1), torch::tensor({2, 2})));
}

TEST(ImageMerge, RejectsInconsistentImageCounts) {
  auto ids = t({{1, IMG, 5, IMG}});
  EXPECT_THROW(merge_image_features(ids, embed(ids), {}, {}, features(3, 2), IMG), vr::Error);  // 2 tokens, 3 images
  EXPECT_THROW(merge_image_features(ids, embed(ids), {}, {}, {}, IMG), vr::Error);              // no images
  auto text = t({{1, 2, 3}});
  EXPECT_THROW(merge_image_features(text, embed(text), {}, {}, features(1, 2), IMG), vr::Error);  // unused image
}

}  // namespace model_image_merge_test
