// Layer contribution (ShortV, arXiv 2504.00502): how much the model's next-token distribution changes when decoder
// layer i stops processing the image tokens (they keep their input hidden state through layer i),
//   LC_i = KL(softmax(logits(M)) ‖ softmax(logits(M_i^V))),
// averaged over the positions whose predictions the training loss reads. High LC = the layer's work on image
// tokens matters = important; ShortV freezes image tokens in the lowest-LC layers.
#include <ATen/ATen.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"
#include "vr/selection/scores.h"

namespace vr::selection {

at::Tensor kl_divergence_per_position(const at::Tensor& p_logits, const at::Tensor& q_logits) {
  VR_CHECK(p_logits.dim() == 3 && p_logits.sizes() == q_logits.sizes(),
           "KL divergence: logits {} and {} must both be [B, M, V]", vr::shape_string(p_logits.sizes()),
           vr::shape_string(q_logits.sizes()));
  at::Tensor log_p = at::log_softmax(p_logits.detach().to(at::kDouble), -1);  // [B, M, V]
  at::Tensor log_q = at::log_softmax(q_logits.detach().to(at::kDouble), -1);
  return (log_p.exp() * (log_p - log_q)).sum(-1).cpu();  // [B, M]
}

at::Tensor contribution_positions(const at::Tensor& labels, const at::Tensor& attention_mask,
                                  const at::Tensor& image_mask) {
  VR_CHECK(attention_mask.dim() == 2 && image_mask.sizes() == attention_mask.sizes(),
           "layer contribution: attention mask {} and image mask {} must both be [B, M]",
           vr::shape_string(attention_mask.sizes()), vr::shape_string(image_mask.sizes()));
  if (labels.defined()) {
    VR_CHECK(labels.sizes() == attention_mask.sizes(), "layer contribution: labels {} must be [B, M] like the mask {}",
             vr::shape_string(labels.sizes()), vr::shape_string(attention_mask.sizes()));
    const int64_t M = labels.size(1);
    // Position t predicts token t + 1: supervised[b, t] = labels[b, t + 1] != −100; the last position predicts
    // nothing.
    at::Tensor supervised = at::zeros(labels.sizes(), at::kBool);
    if (M > 1) supervised.narrow(1, 0, M - 1).copy_(labels.cpu().narrow(1, 1, M - 1).ne(-100));
    if (supervised.any().item<bool>()) return supervised;
  }
  return attention_mask.cpu().to(at::kBool) & ~image_mask.cpu().to(at::kBool);
}

}  // namespace vr::selection
