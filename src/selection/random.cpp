// `random`: k distinct layers drawn uniformly at random, reproducible from selection.seed.
// The draw uses std::mt19937_64 (its output sequence is fixed by the C++ standard) with our own rejection
// sampling and a partial Fisher–Yates shuffle, so the same seed gives the same layers on every platform and
// compiler (std::uniform_int_distribution is implementation-defined and is avoided on purpose).
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

// Uniform integer in [0, n) without modulo bias.
uint64_t draw_below(std::mt19937_64& gen, uint64_t n) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t v;
  do v = gen();
  while (v >= limit);
  return v % n;
}

class Random : public LayerSelector {
 public:
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers, k = cfg.resolve_count(L);
    std::mt19937_64 gen(static_cast<uint64_t>(cfg.seed));
    std::vector<int64_t> pool(L);
    std::iota(pool.begin(), pool.end(), 0);
    for (int64_t i = 0; i < k; ++i)  // pool[0..i) holds the draws so far
      std::swap(pool[i], pool[i + static_cast<int64_t>(draw_below(gen, static_cast<uint64_t>(L - i)))]);
    SelectionResult r;
    r.layers.assign(pool.begin(), pool.begin() + k);
    std::sort(r.layers.begin(), r.layers.end());
    r.rationale = fmt::format("{} of {} layers drawn at random with seed {}", k, L, cfg.seed);
    return r;
  }
};

SelectorRegistration registration_random{"random", "k layers drawn at random (selection.seed makes it reproducible)",
                         [] { return std::make_unique<Random>(); }};

}  // namespace
}  // namespace vr::selection
