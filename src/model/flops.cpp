#include "vr/model/flops.h"

#include <algorithm>

namespace vr::model {

StepFlops training_step_flop_count(const StepFlopsShape& s) {
  const double N = static_cast<double>(s.batch * s.merged_tokens), M = static_cast<double>(s.merged_tokens);
  const double P = static_cast<double>(s.llm_matrix_params), Ph = static_cast<double>(s.lm_head_params);
  const double L = static_cast<double>(s.layers);
  const double attn = 4.0 * L * static_cast<double>(s.batch) * M * M * static_cast<double>(s.hidden);
  // Layers ℓ..L-1 (and lm_head) carry gradients back through their activations.
  const double lowest = static_cast<double>(std::clamp<int64_t>(s.lowest_trained_layer, 0, s.layers));
  const double above = L > 0 ? (L - lowest) / L : 0.0;
  StepFlops f;
  f.llm_forward = 2.0 * P * N + attn;
  f.llm_backward = 2.0 * (Ph + above * (P - Ph)) * N + 2.0 * above * attn +
                   2.0 * static_cast<double>(s.trainable_matrix_params) * N;
  f.vision_forward = 2.0 * static_cast<double>(s.vision_params) *
                     static_cast<double>(s.batch * s.images_per_sample * s.image_tokens);
  if (s.gradient_checkpointing) f.recompute = f.llm_forward;
  return f;
}

double training_step_flops(const StepFlopsShape& s) {
  StepFlopsShape all = s;
  all.lowest_trained_layer = 0;
  return training_step_flop_count(all).hardware();
}

}  // namespace vr::model
