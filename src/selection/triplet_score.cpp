// INTERLACE (arXiv 2511.19676; code github.com/pmadinei/Interlace, train_interlace.py): local redundancy of
// consecutive layers. s_k(i) = mean_t cos(h_i[t], h_{i+k}[t]) is how little the k layers i .. i+k−1 change a
// token; a triplet (i, i+1, i+2) with a high s_3(i) is redundant as a whole. In each of the most similar
// triplets one of the first two layers is dropped, the other fine-tuned to take over its work, and the third
// kept frozen as an anchor.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection {
namespace {

// Starting layers i with a finite score, by descending score; equal scores keep index order (Python's sorted()).
std::vector<int64_t> by_descending(const std::vector<double>& s) {
  std::vector<int64_t> order;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    if (std::isfinite(s[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  return order;
}

}  // namespace

TripletPlan interlace_assignment(const TripletSimilarity& s, int64_t n_drops) {
  const int64_t L = static_cast<int64_t>(s.s1.size());
  VR_CHECK(s.s2.size() == s.s1.size() && s.s3.size() == s.s1.size(), "triplet: s1, s2, s3 must all have {} entries", L);
  VR_CHECK(n_drops >= 1, "triplet: at least one layer must be dropped, got {}", n_drops);
  TripletPlan plan;
  std::set<int64_t> assigned;
  auto free = [&](int64_t l) { return assigned.count(l) == 0; };
  // The more redundant of (a, a+1) — higher s1, i.e. changes its input less — is dropped; a tie drops a.
  // (INTERLACE compares s1 values that exist for both; a NaN s1 never wins, so its neighbour is dropped.)
  auto split = [&](int64_t a) {
    const double x = s.s1[a], y = s.s1[a + 1];
    const bool drop_second = std::isfinite(y) && (!std::isfinite(x) || x < y);
    plan.drop.push_back(drop_second ? a + 1 : a);
    plan.tune.push_back(drop_second ? a : a + 1);
  };
  for (int64_t i : by_descending(s.s3)) {
    if (static_cast<int64_t>(plan.drop.size()) == n_drops) break;
    if (i + 2 >= L || !free(i) || !free(i + 1) || !free(i + 2)) continue;
    split(i);
    plan.anchor.push_back(i + 2);
    assigned.insert({i, i + 1, i + 2});
  }
  for (int64_t i : by_descending(s.s2)) {  // fallback: pairs
    if (static_cast<int64_t>(plan.drop.size()) == n_drops) break;
    if (i + 1 >= L || !free(i) || !free(i + 1)) continue;
    split(i);
    assigned.insert({i, i + 1});
  }
  VR_CHECK(static_cast<int64_t>(plan.drop.size()) == n_drops,
           "triplet: only {} of the requested {} layers can be dropped among {} layers (each drop needs a free "
           "triplet or pair); drop fewer", plan.drop.size(), n_drops, L);
  for (auto* v : {&plan.drop, &plan.tune, &plan.anchor}) std::sort(v->begin(), v->end());
  return plan;
}

}  // namespace vr::selection

namespace vr::selection {

TripletAccumulator::TripletAccumulator(int64_t L) : num_layers(L) {
  for (int64_t k = 1; k <= 3; ++k) by_distance.emplace_back(std::max<int64_t>(0, L - k));
}

void TripletAccumulator::add(const std::vector<at::Tensor>& hidden_states, const at::Tensor& mask) {
  VR_CHECK(static_cast<int64_t>(hidden_states.size()) == num_layers + 1, "triplet: {} hidden states for {} layers",
           hidden_states.size(), num_layers);
  for (int64_t k = 1; k <= 3; ++k) {
    if (num_layers - k <= 0) continue;
    // [L + 1 − k, B, M] → the first L − k rows: i + k <= L − 1, the final-norm entry h_L left out (INTERLACE).
    at::Tensor cos = hidden_state_cosines_at_distance(hidden_states, k).narrow(0, 0, num_layers - k);
    by_distance[k - 1].add(cos, mask.cpu());
  }
}

TripletSimilarity TripletAccumulator::similarity() const {
  auto padded = [&](const LayerMean& m) {
    std::vector<double> v = m.mean();
    v.resize(static_cast<size_t>(num_layers), NAN);
    return v;
  };
  return TripletSimilarity{padded(by_distance[0]), padded(by_distance[1]), padded(by_distance[2])};
}

}  // namespace vr::selection
