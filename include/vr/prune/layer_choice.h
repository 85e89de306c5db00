// Which decoder layers to remove. L = decoder layers of the LLM, N = layers to remove, indices 0-based.
//   region  the paper (arXiv 2412.12785 §5): keep the visual region; among the layers OUTSIDE it remove the N with
//           the lowest block influence (BI_l = 1 - mean cos(h_l, h_{l+1}); low = the layer barely changes its input)
//   bi      ShortGPT: the N layers with the lowest block influence over all layers
//   last    the last N layers before the final norm
//   random  N layers drawn without replacement by a seeded generator
// Ties in scores go to the lower index (stable order). NaN scores are an error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vr::prune {

enum class Method { kRegion, kBlockInfluence, kLast, kRandom };
Method parse_method(const std::string& name);  // region | bi | last | random; anything else throws
const char* method_name(Method m);
bool method_needs_scores(Method m);            // region, bi

struct LayerChoice {
  std::vector<int64_t> removed;  // ascending
  std::vector<int64_t> kept;     // ascending: new layer j = old layer kept[j]
  std::string method;            // region | bi | last | random | manual
  std::string rationale;         // one sentence
  std::vector<double> scores;    // per layer (L) when the method used them
  std::string scores_strategy;   // the strategy that produced them (block_influence, ...)
  std::vector<int64_t> region;   // the visual region (method region)
  uint64_t seed = 0;             // method random
  int64_t num_layers = 0;
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
};
LayerChoice choose_layers(Method method, const ChoiceInputs& in);

// "1,3,5" → {1, 3, 5} (spaces allowed); a vr::Error naming `what` on anything else.
std::vector<int64_t> parse_layer_list(const std::string& text, const std::string& what);

}  // namespace vr::prune
