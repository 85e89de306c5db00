// Parameter change between two checkpoints (SPEC §6.2b, fixtures README "layer_scores/param_change"):
// layers whose projection weights moved most during multimodal tuning are taken to be the visual region.
// Per matrix, in float64 (arccos is ill-conditioned near ±1, float32 would leave ~1e-4 of noise on unchanged
// matrices):
//   frob     = |W' − W|_F
//   frob_rel = |W' − W|_F / |W|_F                               (base norm below the line)
//   angular  = arccos(clamp(<W', W>_F / (|W'|_F |W|_F), −1, 1)) / π
// A layer's score is the sum over its 7 projections; norms, embeddings and lm_head never enter.
#include <algorithm>
#include <cmath>
#include <set>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vr/core/shape_string.h"
#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection {

const std::vector<std::string> kProjectionNames = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                   "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                   "mlp.down_proj"};
const std::vector<std::string> kParamChangeMetrics = {"frob", "frob_rel", "angular"};

std::string decoder_layer_prefix(const StateDict& sd, const std::string& source) {
  // "<prefix>layers.<digits>.mlp.gate_proj.weight": only the Llama MLP has gate_proj, so CLIP / SigLIP
  // encoder layers ("vision_tower....layers.3.mlp.fc1.weight") never match.
  static const std::string kSuffix = ".mlp.gate_proj.weight";
  std::set<std::string> prefixes;
  for (const auto& [name, t] : sd) {
    if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      continue;
    std::string head = name.substr(0, name.size() - kSuffix.size());  // "<prefix>layers.<digits>"
    size_t dot = head.rfind('.');
    if (dot == std::string::npos) continue;
    std::string index = head.substr(dot + 1), stem = head.substr(0, dot + 1);  // "<prefix>layers."
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) continue;
    if (stem.size() < 7 || stem.compare(stem.size() - 7, 7, "layers.") != 0) continue;
    prefixes.insert(stem.substr(0, stem.size() - 7));
  }
  VR_CHECK(!prefixes.empty(), "{}: no Llama decoder layers found (no '...layers.<i>.mlp.gate_proj.weight' tensor)",
           source);
  VR_CHECK(prefixes.size() == 1, "{}: decoder layers under several prefixes ('{}'); cannot tell which is the LLM",
           source, fmt::join(prefixes, "', '"));
  return *prefixes.begin();
}

int64_t count_decoder_layers(const StateDict& sd, const std::string& prefix) {
  int64_t n = 0;
  while (sd.count(fmt::format("{}layers.{}.mlp.gate_proj.weight", prefix, n))) ++n;
  return n;
}

namespace {
const at::Tensor& matrix(const StateDict& sd, const std::string& name, const std::string& source) {
  auto it = sd.find(name);
  VR_CHECK(it != sd.end(), "{}: missing tensor '{}'", source, name);
  return it->second;
}
}  // namespace

ParamChange param_change(const StateDict& base, const StateDict& tuned, const std::string& base_source,
                         const std::string& tuned_source) {
  // The two may name the LLM differently (base "model.layers.*", an LVLM "language_model.model.layers.*").
  const std::string pb = decoder_layer_prefix(base, base_source), pt = decoder_layer_prefix(tuned, tuned_source);
  const int64_t L = count_decoder_layers(base, pb);
  VR_CHECK(L == count_decoder_layers(tuned, pt), "param_change: {} has {} decoder layers but {} has {}", base_source,
           L, tuned_source, count_decoder_layers(tuned, pt));
  const int64_t J = static_cast<int64_t>(kProjectionNames.size());
  ParamChange pc;
  for (at::Tensor* t : {&pc.frob, &pc.frob_rel, &pc.angular, &pc.base_norm, &pc.tuned_norm, &pc.inner})
    *t = at::zeros({L, J}, at::kDouble);
  auto frob = pc.frob.accessor<double, 2>(), rel = pc.frob_rel.accessor<double, 2>(),
       ang = pc.angular.accessor<double, 2>(), nb = pc.base_norm.accessor<double, 2>(),
       nt = pc.tuned_norm.accessor<double, 2>(), dot = pc.inner.accessor<double, 2>();
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t j = 0; j < J; ++j) {
      const std::string suffix = fmt::format("layers.{}.{}.weight", l, kProjectionNames[j]);
      const at::Tensor& wb = matrix(base, pb + suffix, base_source);
      const at::Tensor& wt = matrix(tuned, pt + suffix, tuned_source);
      VR_CHECK(wb.sizes() == wt.sizes(), "param_change: '{}' is {} in {} but {} in {}", suffix, vr::shape_string(wb.sizes()),
               base_source, vr::shape_string(wt.sizes()), tuned_source);
      at::Tensor W = wb.to(at::kDouble), Wp = wt.to(at::kDouble);
      frob[l][j] = (Wp - W).norm().item<double>();
      nb[l][j] = W.norm().item<double>();
      nt[l][j] = Wp.norm().item<double>();
      dot[l][j] = (Wp * W).sum().item<double>();
      rel[l][j] = frob[l][j] / nb[l][j];
      // The clamp matters: for W' = ±sW rounding can put the ratio just outside [−1, 1].
      ang[l][j] = std::acos(std::clamp(dot[l][j] / (nt[l][j] * nb[l][j]), -1.0, 1.0)) / M_PI;
    }
  }
  return pc;
}

std::vector<double> ParamChange::layer_scores(const std::string& metric) const {
  const at::Tensor* per_matrix = metric == "frob"       ? &frob
                                 : metric == "frob_rel" ? &frob_rel
                                 : metric == "angular"  ? &angular
                                                        : nullptr;
  VR_CHECK(per_matrix, "selection.metric: expected one of {}, got '{}'", fmt::join(kParamChangeMetrics, ", "), metric);
  at::Tensor sums = per_matrix->sum(1).contiguous();
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
}

}  // namespace vr::selection
