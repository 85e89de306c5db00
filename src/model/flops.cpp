#include "vr/model/flops.h"

namespace vr::model {

double training_step_flops(const StepFlopsShape& s) {
  const double N = static_cast<double>(s.batch * s.merged_tokens), M = static_cast<double>(s.merged_tokens);
  const double P = static_cast<double>(s.llm_matrix_params);
  const double attn = 4.0 * static_cast<double>(s.layers) * static_cast<double>(s.batch) * M * M *
                      static_cast<double>(s.hidden);
  double flops = 2.0 * P * N + attn + 2.0 * P * N + 2.0 * attn +
                 2.0 * static_cast<double>(s.trainable_matrix_params) * N +
                 2.0 * static_cast<double>(s.vision_params) *
                     static_cast<double>(s.batch * s.images_per_sample * s.image_tokens);
  if (s.gradient_checkpointing) flops += 2.0 * P * N + attn;
  return flops;
}

}  // namespace vr::model
