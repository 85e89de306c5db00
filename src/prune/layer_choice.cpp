#include "vr/prune/layer_choice.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"

namespace vr::prune {

Method parse_method(const std::string& name) {
  if (name == "region") return Method::kRegion;
  if (name == "bi") return Method::kBlockInfluence;
  if (name == "last") return Method::kLast;
  if (name == "random") return Method::kRandom;
  if (name == "angular") return Method::kAngular;
  if (name == "triplet") return Method::kTriplet;
  VR_FAIL("unknown pruning method '{}' (region, bi, last, random, angular, triplet)", name);
}

const char* method_name(Method m) {
  switch (m) {
    case Method::kRegion: return "region";
    case Method::kBlockInfluence: return "bi";
    case Method::kLast: return "last";
    case Method::kRandom: return "random";
    case Method::kAngular: return "angular";
    case Method::kTriplet: return "triplet";
  }
  return "?";
}

bool method_needs_scores(Method m) {
  return m == Method::kRegion || m == Method::kBlockInfluence || m == Method::kAngular;
}

bool method_uses_region(Method m) { return m == Method::kRegion || m == Method::kAngular; }

nlohmann::json LayerChoice::to_json() const {
  nlohmann::json j{{"method", method}, {"num_layers_before", num_layers},
                   {"num_layers_after", static_cast<int64_t>(kept.size())}, {"removed_layers", removed},
                   {"kept_layers", kept}, {"rationale", rationale}};
  if (!scores.empty()) {
    nlohmann::json s = nlohmann::json::array();
    for (double v : scores) s.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json());
    j["scores"] = s;
    j["scores_strategy"] = scores_strategy;
  }
  if (!region.empty()) j["region"] = region;
  if (method == "random") j["seed"] = seed;
  if (method == "angular") j["angular_block"] = block;
  for (const auto& [name, list] : layer_sets) {
    j[name + "_layers"] = list;  // original indices
    nlohmann::json now = nlohmann::json::array();
    for (int64_t l : list) now.push_back(std::lower_bound(kept.begin(), kept.end(), l) - kept.begin());
    j[name + "_layers_new_index"] = now;  // the same layers in the pruned model
  }
  // Where every kept layer went: old index (as a JSON key, base 0) → its index in the pruned model.
  j["index_base"] = 0;
  nlohmann::json new_index = nlohmann::json::object();
  for (size_t n = 0; n < kept.size(); ++n) new_index[std::to_string(kept[n])] = static_cast<int64_t>(n);
  j["kept_new_index"] = new_index;
  return j;
}

namespace {

std::vector<int64_t> complement(const std::vector<int64_t>& removed, int64_t L) {
  std::vector<int64_t> kept;
  for (int64_t l = 0, i = 0; l < L; ++l) {
    if (i < static_cast<int64_t>(removed.size()) && removed[i] == l) ++i;
    else kept.push_back(l);
  }
  return kept;
}

void check_count(int64_t remove, int64_t L) {
  VR_CHECK(L > 0, "the model has no decoder layers");
  VR_CHECK(remove >= 1, "--remove must be at least 1, got {}", remove);
  VR_CHECK(remove < L, "cannot remove {} of {} decoder layers: at least one layer must stay", remove, L);
}

void check_region(const std::vector<int64_t>& region, int64_t L) {
  std::set<int64_t> seen;
  for (int64_t l : region) {
    VR_CHECK(l >= 0 && l < L, "region layer {} is out of range: the model has {} decoder layers (0..{})", l, L, L - 1);
    VR_CHECK(seen.insert(l).second, "region layer {} is listed twice", l);
  }
}

// The `count` candidates with the lowest scores (ties: lower index), ascending by index.
std::vector<int64_t> lowest(const std::vector<int64_t>& candidates, const std::vector<double>& scores, int64_t count) {
  std::vector<int64_t> order = candidates;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  order.resize(static_cast<size_t>(count));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace

LayerChoice choose_explicit(const std::vector<int64_t>& removed, int64_t L) {
  VR_CHECK(L > 0, "the model has no decoder layers");
  VR_CHECK(!removed.empty(), "--remove-layers lists no layer");
  std::set<int64_t> seen;
  for (int64_t l : removed) {
    VR_CHECK(l >= 0 && l < L, "--remove-layers: layer {} is out of range: the model has {} decoder layers (0..{})", l,
             L, L - 1);
    VR_CHECK(seen.insert(l).second, "--remove-layers: layer {} is listed twice", l);
  }
  VR_CHECK(static_cast<int64_t>(seen.size()) < L, "--remove-layers removes all {} decoder layers: at least one must stay",
           L);
  LayerChoice c;
  c.num_layers = L;
  c.method = "manual";
  c.removed.assign(seen.begin(), seen.end());
  c.kept = complement(c.removed, L);
  c.rationale = fmt::format("layers [{}] removed as listed", fmt::join(c.removed, ", "));
  return c;
}

LayerChoice choose_layers(Method method, const ChoiceInputs& in) {
  const int64_t L = in.num_layers, N = in.remove;
  check_count(N, L);
  LayerChoice c;
  c.num_layers = L;
  c.method = method_name(method);
  if (method_needs_scores(method)) {
    VR_CHECK(static_cast<int64_t>(in.scores.size()) == L, "method {} needs {} per-layer scores, got {}", c.method, L,
             in.scores.size());
    for (size_t l = 0; l < in.scores.size(); ++l)
      VR_CHECK(std::isfinite(in.scores[l]), "the score of layer {} is not a number ({}): cannot rank it", l,
               in.scores[l]);
    c.scores = in.scores;
    c.scores_strategy = in.scores_strategy;
  }
  std::vector<int64_t> all(static_cast<size_t>(L));
  std::iota(all.begin(), all.end(), 0);
  switch (method) {
    case Method::kRegion: {
      check_region(in.region, L);
      VR_CHECK(!in.region.empty(), "method region needs the visual region (--region, or the run's selection)");
      std::vector<int64_t> outside;
      for (int64_t l : all)
        if (std::find(in.region.begin(), in.region.end(), l) == in.region.end()) outside.push_back(l);
      VR_CHECK(!outside.empty(), "the visual region covers all {} decoder layers: nothing outside it to remove", L);
      VR_CHECK(N <= static_cast<int64_t>(outside.size()),
               "cannot remove {} layers outside the visual region: only {} of {} layers are outside it", N,
               outside.size(), L);
      c.region = in.region;
      std::sort(c.region.begin(), c.region.end());
      c.removed = lowest(outside, in.scores, N);
      c.rationale = fmt::format("the {} layers outside the visual region [{}] with the lowest {} scores", N,
                                fmt::join(c.region, ", "), in.scores_strategy);
      break;
    }
    case Method::kBlockInfluence:
      c.removed = lowest(all, in.scores, N);
      c.rationale = fmt::format("the {} of {} layers with the lowest {} scores (ShortGPT)", N, L, in.scores_strategy);
      break;
    case Method::kLast:
      c.removed.assign(all.end() - N, all.end());
      c.rationale = fmt::format("the last {} of {} layers", N, L);
      break;
    case Method::kAngular: {
      check_region(in.region, L);
      c.region = in.region;
      std::sort(c.region.begin(), c.region.end());
      auto in_region = [&](int64_t l) { return std::binary_search(c.region.begin(), c.region.end(), l); };
      const std::string where =
          c.region.empty() ? std::string() : fmt::format(" outside the visual region [{}]", fmt::join(c.region, ", "));
      if (in.angular_single) {
        VR_CHECK(in.scores_block == 1, "method angular (single layers) needs per-layer distances (angular_block 1), "
                 "got scores of blocks of {}", in.scores_block);
        std::vector<int64_t> outside;
        for (int64_t l : all)
          if (!in_region(l)) outside.push_back(l);
        VR_CHECK(N <= static_cast<int64_t>(outside.size()),
                 "cannot remove {} layers outside the visual region: only {} of {} layers are outside it", N,
                 outside.size(), L);
        c.removed = lowest(outside, in.scores, N);
        c.block = 1;
        c.rationale =
            fmt::format("the {} layers{} with the lowest angular distance between input and output", N, where);
        break;
      }
      VR_CHECK(in.scores_block == N, "method angular removes one block of {} layers and needs the block distances "
               "d(h_l, h_l+{}) (angular_block {}), got scores of blocks of {}", N, N, N, in.scores_block);
      // Blocks l .. l+N−1 for l = 0 .. L−N that hold no region layer; the lowest d(h_l, h_{l+N}), ties: lower l.
      int64_t best = -1;
      for (int64_t l = 0; l + N <= L; ++l) {
        bool clear = true;
        for (int64_t j = l; j < l + N; ++j) clear = clear && !in_region(j);
        if (clear && (best < 0 || in.scores[l] < in.scores[best])) best = l;
      }
      VR_CHECK(best >= 0, "no block of {} consecutive layers lies outside the visual region [{}] ({} layers)", N,
               fmt::join(c.region, ", "), L);
      for (int64_t j = best; j < best + N; ++j) c.removed.push_back(j);
      c.block = N;
      c.rationale = fmt::format("the block of {} consecutive layers{} with the lowest angular distance between its "
                                "input and output (layers {}..{}, d = {:.4g})", N, where, best, best + N - 1,
                                in.scores[best]);
      break;
    }
    case Method::kTriplet: {
      const vr::selection::TripletPlan plan = vr::selection::interlace_assignment(in.triplet, N);
      VR_CHECK(static_cast<int64_t>(in.triplet.s1.size()) == L, "method triplet: similarities for {} layers, the model "
               "has {}", in.triplet.s1.size(), L);
      c.removed = plan.drop;
      c.layer_sets = {{"tune", plan.tune}, {"anchor", plan.anchor}};
      c.scores = in.triplet.s3;
      c.scores_strategy = "triplet (s3)";
      c.rationale = fmt::format("INTERLACE: in the {} most similar layer triplets, the more redundant of the first two "
                                "layers (fine-tune [{}], freeze the anchors [{}])", N, fmt::join(plan.tune, ", "),
                                fmt::join(plan.anchor, ", "));
      break;
    }
    case Method::kRandom: {
      // std::mt19937_64 + a Fisher-Yates shuffle written out (std::shuffle's result is implementation-defined).
      std::mt19937_64 gen(in.seed);
      std::vector<int64_t> order = all;
      for (int64_t i = L - 1; i > 0; --i) std::swap(order[i], order[gen() % static_cast<uint64_t>(i + 1)]);
      order.resize(static_cast<size_t>(N));
      std::sort(order.begin(), order.end());
      c.removed = order;
      c.seed = in.seed;
      c.rationale = fmt::format("{} of {} layers drawn at random (seed {})", N, L, in.seed);
      break;
    }
  }
  c.kept = complement(c.removed, L);
  return c;
}

std::vector<int64_t> parse_layer_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  skip_space();
  if (!text.empty() && text.front() == '[' && text.back() == ']') return parse_layer_list(text.substr(1, text.size() - 2), what);
  while (i < text.size()) {
    skip_space();
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    VR_CHECK(i > start && i - start <= 9, "{}: expected a comma-separated list of layer indices such as 1,5,9, got '{}'", what, text);
    out.push_back(std::stoll(text.substr(start, i - start)));
    skip_space();
    if (i < text.size()) {
      VR_CHECK(text[i] == ',', "{}: expected a comma-separated list of layer indices such as 1,5,9, got '{}'", what,
               text);
      ++i;
    }
  }
  VR_CHECK(!out.empty(), "{}: no layer indices in '{}'", what, text);
  return out;
}

}  // namespace vr::prune
