// Attention mass on image tokens (SPEC §6.2d, fixtures README "layer_scores"): for each layer, the share of
// softmax attention that text queries placed after the image give to the image slots. A layer whose text
// tokens read the image a lot is taken to be part of the "visual region".
//   a_l = mean over (b, h, t ∈ Q_b) of Σ_{k ∈ I_b} A_l[b, h, t, k]
// I_b: image slots of row b; Q_b: valid non-image positions after the last image slot of row b.
#include <ATen/ATen.h>

#include "vr/core/shape_string.h"
#include "vr/core/error.h"
#include "vr/selection/scores.h"

namespace vr::selection {

at::Tensor after_image_query_mask(const at::Tensor& image_mask, const at::Tensor& attention_mask) {
  VR_CHECK(image_mask.dim() == 2 && image_mask.sizes() == attention_mask.sizes(),
           "attention score: image mask {} and attention mask {} must both be [B, M]", vr::shape_string(image_mask.sizes()),
           vr::shape_string(attention_mask.sizes()));
  at::Tensor image = image_mask.cpu().to(at::kBool);
  at::Tensor valid = attention_mask.cpu().to(at::kBool);
  at::Tensor pos = at::arange(image.size(1), at::kLong).unsqueeze(0).expand_as(image);  // [B, M]
  at::Tensor last_image = at::where(image, pos, at::full_like(pos, -1)).amax(1, /*keepdim=*/true);  // [B, 1]
  return valid & ~image & (pos > last_image) & (last_image >= 0);
}

at::Tensor image_attention_mass(const at::Tensor& attn_probs, const at::Tensor& image_mask) {
  VR_CHECK(attn_probs.dim() == 4 && attn_probs.size(0) == image_mask.size(0) &&
               attn_probs.size(3) == image_mask.size(1),
           "attention score: attentions {} do not match the image mask {} ([B, H, M, M] and [B, M])",
           vr::shape_string(attn_probs.sizes()), vr::shape_string(image_mask.sizes()));
  // [B, H, M, M] @ [B, 1, M, 1] → [B, H, M, 1]: a float64 sum over image keys.
  at::Tensor keys = image_mask.to(attn_probs.device()).to(at::kDouble).unsqueeze(1).unsqueeze(-1);
  return at::matmul(attn_probs.detach().to(at::kDouble), keys).squeeze(-1).cpu();
}

void accumulate_attention_mass(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                               const at::Tensor& attention_mask, LayerMean& acc) {
  VR_CHECK(attentions.size() == acc.sum.size(), "attention score: {} attention tensors for {} layers",
           attentions.size(), acc.sum.size());
  at::Tensor queries = after_image_query_mask(image_mask, attention_mask).unsqueeze(1);  // [B, 1, M]
  for (size_t l = 0; l < attentions.size(); ++l) {
    at::Tensor mass = image_attention_mass(attentions[l], image_mask);  // [B, H, M]
    LayerMean one(1);
    one.add(mass.unsqueeze(0), queries);
    acc.sum[l] += one.sum[0];
    acc.count[l] += one.count[0];
  }
}

std::vector<double> attention_image_mass(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                                         const at::Tensor& attention_mask) {
  LayerMean acc(static_cast<int64_t>(attentions.size()));
  accumulate_attention_mass(attentions, image_mask, attention_mask, acc);
  return acc.mean();
}

at::Tensor attention_image_mass_per_row(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                                        const at::Tensor& attention_mask) {
  const int64_t B = image_mask.size(0), L = static_cast<int64_t>(attentions.size());
  at::Tensor out = at::empty({B, L}, at::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<at::Tensor> row;
    for (const auto& a : attentions) row.push_back(a.narrow(0, b, 1));
    std::vector<double> m = attention_image_mass(row, image_mask.narrow(0, b, 1), attention_mask.narrow(0, b, 1));
    for (int64_t l = 0; l < L; ++l) out[b][l] = m[l];
  }
  return out;
}

at::Tensor attention_image_mass_per_head(const std::vector<at::Tensor>& attentions, const at::Tensor& image_mask,
                                         const at::Tensor& attention_mask) {
  const int64_t L = static_cast<int64_t>(attentions.size());
  VR_CHECK(L > 0, "attention score: no attention tensors");
  const int64_t H = attentions[0].size(1);
  at::Tensor out = at::empty({L, H}, at::kDouble);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<at::Tensor> head;
    for (const auto& a : attentions) head.push_back(a.narrow(1, h, 1));
    std::vector<double> m = attention_image_mass(head, image_mask, attention_mask);
    for (int64_t l = 0; l < L; ++l) out[l][h] = m[l];
  }
  return out;
}

}  // namespace vr::selection
