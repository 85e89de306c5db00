// Heuristic strategies: uniform (the paper's default and the documented picks for other depths),
// consecutive, manual, random.
#include <gtest/gtest.h>

#include <set>

#include "vr/core/error.h"
#include "vr/selection/selection.h"

namespace vr::selection::heuristics_test {
namespace {

std::vector<int64_t> pick(const std::string& strategy, int64_t L, int64_t count = 0,
                          const std::function<void(SelectionConfig&)>& edit = {}) {
  SelectionConfig cfg;
  cfg.strategy = strategy;
  cfg.count = count;
  if (edit) edit(cfg);
  SelectionContext ctx;
  ctx.num_layers = L;
  return select_layers(cfg, ctx).layers;
}

using V = std::vector<int64_t>;

TEST(SelectionUniform, PaperDefaultFor32Layers) {
  // The official --layer_selection default, from fraction 0.25 (k = 8) and from count 8.
  EXPECT_EQ(pick("uniform", 32), (V{1, 5, 9, 13, 19, 23, 27, 31}));
  EXPECT_EQ(pick("uniform", 32, 8), (V{1, 5, 9, 13, 19, 23, 27, 31}));
}

TEST(SelectionUniform, DocumentedPicksForOtherDepths) {
  // The table in docs/selection.md (k = round(0.25 L)).
  EXPECT_EQ(pick("uniform", 40), (V{1, 5, 9, 13, 17, 23, 27, 31, 35, 39}));
  EXPECT_EQ(pick("uniform", 24), (V{1, 5, 9, 15, 19, 23}));
  EXPECT_EQ(pick("uniform", 16), (V{1, 5, 11, 15}));
  EXPECT_EQ(pick("uniform", 40, 9), (V{1, 5, 10, 15, 20, 25, 30, 35, 39}));  // LLaVA-13B's 9 of 40
}

TEST(SelectionUniform, EdgeCases) {
  EXPECT_EQ(pick("uniform", 1), (V{0}));
  EXPECT_EQ(pick("uniform", 2), (V{1}));             // k = round(0.5) = 1 → floor(L/2)
  EXPECT_EQ(pick("uniform", 5, 1), (V{2}));
  EXPECT_EQ(pick("uniform", 5, 2), (V{1, 4}));
  EXPECT_EQ(pick("uniform", 5, 4), (V{1, 2, 3, 4}));  // k = L − 1: everything but layer 0
  EXPECT_EQ(pick("uniform", 5, 5), (V{0, 1, 2, 3, 4}));
}

TEST(SelectionUniform, PropertiesForEveryDepthAndCount) {
  // For all L ≤ 80 and k ≤ L: k distinct sorted picks in range; for 2 ≤ k < L the picks span 1..L−1, are
  // mirror-symmetric (l ↔ L − l) for even k, and consecutive gaps differ by at most 2 (rounding outward).
  for (int64_t L = 1; L <= 80; ++L) {
    for (int64_t k = 1; k <= L; ++k) {
      V p = pick("uniform", L, k);
      ASSERT_EQ(static_cast<int64_t>(p.size()), k) << "L=" << L << " k=" << k;
      ASSERT_TRUE(std::is_sorted(p.begin(), p.end()));
      ASSERT_EQ(std::set<int64_t>(p.begin(), p.end()).size(), p.size());
      ASSERT_GE(p.front(), 0);
      ASSERT_LT(p.back(), L);
      if (k < 2 || k >= L) continue;
      EXPECT_EQ(p.front(), 1) << "L=" << L << " k=" << k;
      EXPECT_EQ(p.back(), L - 1) << "L=" << L << " k=" << k;
      if (k % 2 == 0)
        for (int64_t i = 0; i < k; ++i) EXPECT_EQ(p[i] + p[k - 1 - i], L) << "L=" << L << " k=" << k;
      int64_t gmin = L, gmax = 0;
      for (int64_t i = 1; i < k; ++i) gmin = std::min(gmin, p[i] - p[i - 1]), gmax = std::max(gmax, p[i] - p[i - 1]);
      EXPECT_LE(gmax - gmin, 2) << "L=" << L << " k=" << k;
    }
  }
}

TEST(SelectionCount, FractionRoundingAndOverride) {
  SelectionConfig cfg;
  EXPECT_EQ(cfg.resolve_count(32), 8);
  EXPECT_EQ(cfg.resolve_count(40), 10);
  EXPECT_EQ(cfg.resolve_count(26), 7);  // 6.5 rounds up
  EXPECT_EQ(cfg.resolve_count(3), 1);   // 0.75 → 1
  EXPECT_EQ(cfg.resolve_count(1), 1);   // never 0
  cfg.fraction = 0.1;
  EXPECT_EQ(cfg.resolve_count(4), 1);   // round(0.4) = 0, clamped to 1
  cfg.count = 9;
  EXPECT_EQ(cfg.resolve_count(40), 9);  // count wins over fraction
  EXPECT_THROW(cfg.resolve_count(8), vr::Error);
  cfg.count = 0;
  cfg.fraction = 1.5;
  EXPECT_THROW(cfg.resolve_count(8), vr::Error);
}

TEST(SelectionConsecutive, FirstMiddleLast) {
  auto at = [](const std::string& pos, int64_t L, int64_t k) {
    return pick("consecutive", L, k, [&](SelectionConfig& c) { c.position = pos; });
  };
  EXPECT_EQ(at("first", 32, 8), (V{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(at("middle", 32, 8), (V{12, 13, 14, 15, 16, 17, 18, 19}));
  EXPECT_EQ(at("last", 32, 8), (V{24, 25, 26, 27, 28, 29, 30, 31}));
  EXPECT_EQ(at("middle", 5, 2), (V{1, 2}));  // floor((5 − 2) / 2) = 1
  EXPECT_THROW(at("centre", 32, 8), vr::Error);
}

TEST(SelectionManual, SortsAndValidates) {
  auto with = [](V layers, int64_t L) {
    return pick("manual", L, 0, [&](SelectionConfig& c) { c.layers = layers; });
  };
  EXPECT_EQ(with({31, 1, 5, 9, 13, 19, 23, 27}, 32), (V{1, 5, 9, 13, 19, 23, 27, 31}));
  EXPECT_EQ(with({3}, 4), (V{3}));
  EXPECT_THROW(with({}, 32), vr::Error);
  EXPECT_THROW(with({1, 32}, 32), vr::Error);
  EXPECT_THROW(with({-1}, 32), vr::Error);
  try {
    with({1, 5, 1}, 32);
    FAIL() << "duplicate accepted";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1 is listed twice"), std::string::npos) << e.what();
  }
}

TEST(SelectionRandom, SeededReproducibleAndValid) {
  auto with_seed = [](int64_t seed, int64_t L, int64_t k) {
    return pick("random", L, k, [&](SelectionConfig& c) { c.seed = seed; });
  };
  V a = with_seed(7, 32, 8);
  EXPECT_EQ(a, with_seed(7, 32, 8));
  EXPECT_EQ(a.size(), 8u);
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 8u);
  // Different seeds give different sets (8 of 32: C(32,8) ≈ 1e7 sets, a collision among 5 seeds is ~1e-6).
  std::set<V> seen;
  for (int64_t s = 0; s < 5; ++s) seen.insert(with_seed(s, 32, 8));
  EXPECT_EQ(seen.size(), 5u);
  // Every layer can be drawn: over many seeds each of 10 layers appears, and k = L gives all layers.
  std::set<int64_t> hit;
  for (int64_t s = 0; s < 200; ++s)
    for (int64_t l : with_seed(s, 10, 2)) hit.insert(l);
  EXPECT_EQ(hit.size(), 10u);
  EXPECT_EQ(with_seed(3, 6, 6), (V{0, 1, 2, 3, 4, 5}));
  // Pinned draw: std::mt19937_64 is specified by the standard, so this list is the same everywhere.
  EXPECT_EQ(with_seed(0, 32, 8), (V{5, 10, 12, 15, 16, 17, 26, 30}));
}

}  // namespace
}  // namespace vr::selection::heuristics_test
