#include "vr/train/memory_estimate.h"

#include <fmt/format.h>

#include "vr/train/metrics.h"

namespace vr::train {

MemoryEstimate estimate_memory(const MemoryInputs& in) {
  MemoryEstimate m;
  const double s = static_cast<double>(in.bytes_per_element);
  m.weights = static_cast<double>(in.total_params) * s;
  m.gradients = static_cast<double>(in.trainable_params) * s;
  const double master = in.bytes_per_element == 4 ? 0.0 : 4.0;
  m.optimizer = static_cast<double>(in.trainable_params) * (8.0 + master);
  const double B = static_cast<double>(in.batch), T = static_cast<double>(in.tokens);
  const double H = static_cast<double>(in.hidden), nH = static_cast<double>(in.heads);
  const double per_layer = H > 0 ? B * T * H * (34.0 + 5.0 * nH * T / H) * s / 2.0 : 0.0;
  const double L = static_cast<double>(in.layers);
  const double stack = in.gradient_checkpointing ? L * B * T * H * s + per_layer : L * per_layer;
  const double logits = 2.0 * B * T * static_cast<double>(in.vocab) * 4.0;
  m.activations = stack + logits;
  return m;
}

std::string MemoryEstimate::table() const {
  return fmt::format(
      "  weights      {:>12}\n  gradients    {:>12}\n  optimizer    {:>12}\n  activations  {:>12}\n"
      "  total        {:>12}  (estimate; allocator overhead and workspace not included)\n",
      format_bytes(weights), format_bytes(gradients), format_bytes(optimizer), format_bytes(activations),
      format_bytes(total()));
}

}  // namespace vr::train
