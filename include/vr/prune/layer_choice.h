// Which decoder layers to remove. L = decoder layers of the LLM, N = layers to remove, indices 0-based.
//   region  the paper (arXiv 2412.12785 §5): keep the visual region; among the layers OUTSIDE it remove the N with
//           the lowest block influence (BI_l = 1 - mean cos(h_l, h_{l+1}); low = the layer barely changes its input)
//   bi      ShortGPT: the N layers with the lowest block influence over all layers
//   last    the last N layers before the final norm
//   random  N layers drawn without replacement by a seeded generator
//   angular Gromov et al. (arXiv 2403.17887): the block of N consecutive layers l .. l+N−1 outside the visual region
//           with the lowest angular distance d(h_l, h_{l+N}) (scores of `angular` with angular_block = N); or, with
//           angular_single, the N layers outside the region with the lowest per-layer distance (angular_block = 1)
//   triplet INTERLACE (arXiv 2511.19676): the drop layers of its triplet assignment (selection/scores.h
//           interlace_assignment with N drops); its tune / anchor layers are recorded
// Ties in scores go to the lower index (stable order). NaN scores are an error.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vr/selection/scores.h"

namespace vr::prune {

enum class Method { kRegion, kBlockInfluence, kLast, kRandom, kAngular, kTriplet };
Method parse_method(const std::string& name);  // region | bi | last | random | angular | triplet; else throws
const char* method_name(Method m);
bool method_needs_scores(Method m);            // region, bi, angular (triplet reads ChoiceInputs::triplet)
bool method_uses_region(Method m);             // region, angular

struct LayerChoice {
  std::vector<int64_t> removed;  // ascending
  std::vector<int64_t> kept;     // ascending: new layer j = old layer kept[j]
  std::string method;            // region | bi | last | random | manual
  std::string rationale;         // one sentence
  std::vector<double> scores;    // per layer (L) when the method used them
  std::string scores_strategy;   // the strategy that produced them (block_influence, ...)
  std::vector<int64_t> region;   // the visual region (method region)
  uint64_t seed = 0;             // method random
  int64_t block = 0;             // method angular: the block size n of the scores (N for a block, 1 for single)
  std::map<std::string, std::vector<int64_t>> layer_sets;  // method triplet: tune, anchor (original indices)
  int64_t num_layers = 0;
  // pruning.json's choice fields: method, removed_layers / kept_layers (original indices, ascending),
  // index_base (0), kept_new_index {"<original>": <new>} for every kept layer, num_layers_before/after, ...
  nlohmann::json to_json() const;
};

// --remove-layers: checks every index is in [0, L), no duplicates, and at least one layer stays.
LayerChoice choose_explicit(const std::vector<int64_t>& removed, int64_t num_layers);

struct ChoiceInputs {
  int64_t num_layers = 0;
  int64_t remove = 0;                // N, 1 <= N < L
  std::vector<double> scores;        // region, bi: L importance scores (higher = more important)
  std::string scores_strategy = "block_influence";
  std::vector<int64_t> region;       // region: the layers that stay in any case
  uint64_t seed = 0;                 // random
  int64_t scores_block = 1;          // angular: n of the scores (d(h_l, h_{l+n})); must be N, or 1 when single
  bool angular_single = false;       // angular: N single layers instead of one block of N
  vr::selection::TripletSimilarity triplet;  // triplet: s1, s2, s3 of the model ([L] each)
};
LayerChoice choose_layers(Method method, const ChoiceInputs& in);

// "1,3,5" → {1, 3, 5} (spaces allowed); a vr::Error naming `what` on anything else.
std::vector<int64_t> parse_layer_list(const std::string& text, const std::string& what);

}  // namespace vr::prune
