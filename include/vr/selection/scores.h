// Per-layer importance scores as plain tensor math, independent of how the tensors were produced
// (the strategies in src/selection/ drive the model; these functions are what the fixtures check).
// Definitions follow shared/fixtures/README.md "layer_scores" and SPEC §6.2. All sums are float64.
// Shapes: B batch rows, M merged sequence length (text + image slots), D hidden size,
// L decoder layers, H query heads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

#include "vr/core/tensor_files.h"

namespace vr::selection {

// Running mean per layer, pooled over everything added (tokens of all rows and all batches).
// NaN values are skipped (neither summed nor counted), as the official script's running mean does.
struct LayerMean {
  std::vector<double> sum;
  std::vector<int64_t> count;
  explicit LayerMean(int64_t num_layers = 0) : sum(num_layers, 0.0), count(num_layers, 0) {}
  // values [L, ...] float; mask broadcastable to values[l] (bool / 0-1): entries that take part.
  void add(const at::Tensor& values, const at::Tensor& mask);
  // Per-layer mean; NaN for a layer that received nothing.
  std::vector<double> mean() const;
};

// ---- block influence --------------------------------------------------------------------------------------
// cos_l(b, t) = <h_l[b,t], h_{l+1}[b,t]> / (|h_l[b,t]| |h_{l+1}[b,t]|), float64, no epsilon (NaN for a zero vector).
// hidden_states: L + 1 tensors [B, M, D] as the model returns them (entry 0 = input embeddings, entry l = output
// of layer l − 1, the last entry after the final norm). When last_layer_prenorm [B, M, D] is defined it replaces
// the last entry ("prenorm" variant). Returns [L, B, M] float64.
at::Tensor hidden_state_cosines(const std::vector<at::Tensor>& hidden_states,
                                const at::Tensor& last_layer_prenorm = at::Tensor());

// BI_l = 1 − mean of cos_l over the positions where mask [B, M] is set (one pooled mean over all rows).
std::vector<double> block_influence(const at::Tensor& cosines, const at::Tensor& mask);
// [B, L]: the same mean per row (over that row's positions only).
at::Tensor block_influence_per_row(const at::Tensor& cosines, const at::Tensor& mask);

// ---- angular distance (Gromov et al., arXiv 2403.17887) ---------------------------------------------------
// cos_n(l; b, t) = cos(h_l[b,t], h_{l+n}[b,t]) for l = 0 .. L−n (float64, no epsilon; NaN for a zero vector).
// hidden_states: L + 1 tensors [B, M, D] as for hidden_state_cosines. Returns [L + 1 − n, B, M].
at::Tensor hidden_state_cosines_at_distance(const std::vector<at::Tensor>& hidden_states, int64_t n);

// d_n(l; b, t) = arccos(clamp(cos(h_l[b,t], h_end[b,t]), −1, 1)) / π ∈ [0, 1] with end = min(l + n, L), for every
// layer l = 0 .. L−1: the angle the block of n layers starting at l turns a token by (the last n − 1 blocks are cut
// at the top of the stack). n = 1: the per-layer form. Returns [L, B, M] float64 (NaN where a vector is zero).
at::Tensor angular_distances(const std::vector<at::Tensor>& hidden_states, int64_t n);

// Mean over the positions where mask [B, M] is set (one pooled mean over all rows) of [L, B, M] values. [L]
std::vector<double> masked_layer_mean(const at::Tensor& values, const at::Tensor& mask);

// ---- triplet similarity (INTERLACE, arXiv 2511.19676) -------------------------------------------------------
// s_k(i) = mean over tokens of cos(h_i, h_{i+k}), k = 1, 2, 3. As INTERLACE's get_hidden_states.py, only i with
// i + k <= L − 1 is scored (the final-norm entry h_L never enters); other entries are NaN. Each [L].
struct TripletSimilarity {
  std::vector<double> s1, s2, s3;
};

// Pooled over calibration batches: add() each batch's hidden states (L + 1 entries) with its valid-position mask
// [B, M]; similarity() gives s1, s2, s3 ([L] each, NaN where i + k > L − 1).
struct TripletAccumulator {
  explicit TripletAccumulator(int64_t num_layers);
  void add(const std::vector<at::Tensor>& hidden_states, const at::Tensor& mask);
  TripletSimilarity similarity() const;
  int64_t num_layers;
  std::vector<LayerMean> by_distance;  // k = 1, 2, 3: LayerMean over i = 0 .. L − 1 − k
};

// INTERLACE's assignment (train_interlace.py, select_layers_interlace): triplets (i, i+1, i+2) by descending s3;
// each whose three layers are still free drops the more redundant of its first two layers (the one with the higher
// s1; a tie drops i), fine-tunes the other and freezes i+2 as an anchor. When fewer than n_drops triplets fit,
// pairs (i, i+1) by descending s2 follow (drop/tune as above, no anchor). Ties in s3 / s2: lower i first.
// Throws when n_drops layers cannot be assigned. Lists ascending.
struct TripletPlan {
  std::vector<int64_t> drop, tune, anchor;
};
TripletPlan interlace_assignment(const TripletSimilarity& s, int64_t n_drops);

// ---- layer contribution (ShortV, arXiv 2504.00502) ---------------------------------------------------------
// KL(softmax(p) ‖ softmax(q)) = Σ_v P_v (log P_v − log Q_v) per position, float64. logits [B, M, V] → [B, M].
at::Tensor kl_divergence_per_position(const at::Tensor& p_logits, const at::Tensor& q_logits);

// Where layer_contribution averages the KL: positions t whose logits the causal-LM loss reads
// (labels[b, t+1] != −100); when labels is undefined or marks nothing, every valid non-image position
// (attention_mask = 1 and not image_mask). [B, M] bool.
at::Tensor contribution_positions(const at::Tensor& labels, const at::Tensor& attention_mask,
                                  const at::Tensor& image_mask);

// ---- attention mass on image tokens ---------------------------------------------------------------------
// Text queries after the image: valid (attention_mask = 1), not an image slot, and after the row's last image
// slot. image_mask, attention_mask [B, M] → [B, M] bool. Rows without an image have no queries.
at::Tensor after_image_query_mask(const at::Tensor& image_mask, const at::Tensor& attention_mask);

// mass(b, h, t) = Σ_{k: image_mask[b,k]} A[b, h, t, k] for attention probabilities A [B, H, M, M].
// Returns [B, H, M] float64.
at::Tensor image_attention_mass(const at::Tensor& attn_probs, const at::Tensor& image_mask);

// Adds, for every layer l, mass over (b, h, t ∈ queries) of attentions[l] to `acc` (rows and heads pooled).
void accumulate_attention_mass(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                               const at::Tensor& attention_mask, LayerMean& acc);
// a_l = mean of mass(b, h, t) over all (b, h, t ∈ after_image_query_mask), rows pooled. [L]
std::vector<double> attention_image_mass(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                                         const at::Tensor& attention_mask);
// [B, L] mean per row; [L, H] mean per head (rows pooled).
at::Tensor attention_image_mass_per_row(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                                        const at::Tensor& attention_mask);
at::Tensor attention_image_mass_per_head(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                                         const at::Tensor& attention_mask);

// ---- parameter change ------------------------------------------------------------------------------------
// The 7 projection matrices of a Llama decoder layer, in the fixture's order.
extern const std::vector<std::string> kProjectionNames;  // self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj

// The prefix in front of "layers.<i>.mlp.gate_proj.weight" of the language model ("model.",
// "language_model.model.", ...). Vision-tower layers never match (they have no gate_proj). Throws when none or
// several candidates exist; `source` names the checkpoint in the message.
std::string decoder_layer_prefix(const StateDict& sd, const std::string& source);
// Number of decoder layers under that prefix (layers 0..n-1 must all be present).
int64_t count_decoder_layers(const StateDict& sd, const std::string& prefix);

// Per matrix (l, j) with W = base, W' = tuned, in float64:
//   frob = |W' − W|_F, frob_rel = |W' − W|_F / |W|_F, angular = arccos(clamp(<W', W> / (|W'| |W|), −1, 1)) / π.
// All [L, 7]; per-layer scores are the row sums. Only the 7 projections enter (norms, embeddings, lm_head never).
struct ParamChange {
  at::Tensor frob, frob_rel, angular, base_norm, tuned_norm, inner;
  // Row sum of one metric: "frob" | "frob_rel" | "angular".
  std::vector<double> layer_scores(const std::string& metric) const;
};
ParamChange param_change(const StateDict& base, const StateDict& tuned, const std::string& base_source = "base",
                         const std::string& tuned_source = "tuned");
extern const std::vector<std::string> kParamChangeMetrics;  // frob, frob_rel, angular

}  // namespace vr::selection
