#include "vr/model/image_merge.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"

namespace vr::model {

using torch::indexing::Slice;

namespace {

// HF's layout for expanded image tokens (transformers >= 4.45: inputs_embeds.masked_scatter(image mask, features))
// and for text-only input (no merge at all): every token keeps its position, padded ones included, so
// M = T (or max_length when smaller). Padded slots hold the embedding of their token and position id t, as
// LlamaModel's default position_ids = arange(T); labels stay as given except -100 at padded slots, which is
// HF's loss (it drops targets whose attention_mask is 0).
MergedSequence merge_in_place(const at::Tensor& text_embeds, const at::Tensor& valid, const at::Tensor& labels,
                              const at::Tensor& image_features, const at::Tensor& is_image, int64_t max_length) {
  const int64_t B = valid.size(0), T = valid.size(1);
  const int64_t M = max_length > 0 ? std::min(T, max_length) : T;
  MergedSequence out;
  auto embeds = text_embeds;
  if (image_features.defined() && image_features.numel() > 0) {
    auto feats = image_features.reshape({-1, image_features.size(-1)}).to(text_embeds.scalar_type());
    VR_CHECK(feats.size(1) == text_embeds.size(-1), "image merge: image features have width {} but text embeddings {}",
             feats.size(1), text_embeds.size(-1));
    embeds = embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), feats);  // row-major, as HF
  }
  out.inputs_embeds = embeds.slice(1, 0, M);
  out.attention_mask = valid.slice(1, 0, M).to(torch::kLong);
  out.position_ids = torch::arange(M, valid.options().dtype(torch::kLong)).unsqueeze(0).expand({B, M}).contiguous();
  if (labels.defined()) out.labels = labels.to(torch::kLong).masked_fill(valid.logical_not(), -100).slice(1, 0, M);
  out.image_token_mask = is_image.slice(1, 0, M).contiguous();
  out.lengths = out.attention_mask.sum(1);
  return out;
}

}  // namespace

MergedSequence merge_image_features(const at::Tensor& input_ids, const at::Tensor& text_embeds,
                                    const at::Tensor& attention_mask, const at::Tensor& labels,
                                    const at::Tensor& image_features, int64_t image_token_id, int64_t max_length,
                                    MergeLayout layout) {
  VR_CHECK(input_ids.dim() == 2, "image merge: input_ids must be [B,T], got {}", vr::shape_string(input_ids.sizes()));
  const int64_t B = input_ids.size(0), T = input_ids.size(1), H = text_embeds.size(-1);
  VR_CHECK(text_embeds.dim() == 3 && text_embeds.size(0) == B && text_embeds.size(1) == T,
           "image merge: text_embeds must be [{},{},H], got {}", B, T, vr::shape_string(text_embeds.sizes()));
  const auto dev = input_ids.device();
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(dev);

  auto valid = attention_mask.defined() ? attention_mask.ne(0) : torch::ones({B, T}, long_opts.dtype(torch::kBool));
  VR_CHECK(valid.sizes() == input_ids.sizes(), "image merge: attention_mask {} does not match input_ids {}",
           vr::shape_string(valid.sizes()), vr::shape_string(input_ids.sizes()));
  if (labels.defined())
    VR_CHECK(labels.sizes() == input_ids.sizes(), "image merge: labels {} do not match input_ids {}", vr::shape_string(labels.sizes()),
             vr::shape_string(input_ids.sizes()));
  auto is_image = input_ids.eq(image_token_id).logical_and(valid);  // [B,T]
  const int64_t n_image_tokens = is_image.sum().item<int64_t>();

  // Slots taken by each image token: F (legacy placeholder) or 1 (expanded run).
  const int64_t N = image_features.defined() ? image_features.size(0) : 0;
  const int64_t F = image_features.defined() ? image_features.size(1) : 0;
  int64_t image_width = 1;
  if (n_image_tokens > 0) {
    VR_CHECK(N > 0, "image merge: input_ids hold {} image tokens (id {}) but no images were given", n_image_tokens,
             image_token_id);
    if (n_image_tokens == N) {
      image_width = F;
    } else {
      VR_CHECK(n_image_tokens == N * F,
               "image merge: input_ids hold {} image tokens (id {}) for {} images of {} features: expected {} "
               "(one placeholder per image) or {} (expanded)",
               n_image_tokens, image_token_id, N, F, N, N * F);
    }
  } else {
    VR_CHECK(N == 0, "image merge: {} images given but input_ids hold no image token (id {})", N, image_token_id);
  }

  if (layout == MergeLayout::kAsHuggingFace && (n_image_tokens == 0 || (image_width == 1 && F > 1)))
    return merge_in_place(text_embeds, valid, labels, image_features, is_image, max_length);

  // Exclusive prefix sum of the widths gives each input token's first output slot.
  auto width = torch::where(is_image, torch::full({}, image_width, long_opts), valid.to(torch::kLong));  // [B,T]
  auto end = width.cumsum(1);
  auto start = end - width;
  auto lengths = end.index({Slice(), -1});  // [B]
  if (max_length > 0) lengths = lengths.clamp_max(max_length);
  const int64_t M = lengths.numel() ? std::max<int64_t>(lengths.max().item<int64_t>(), 0) : 0;

  MergedSequence out;
  out.inputs_embeds = torch::zeros({B, M, H}, text_embeds.options());
  if (labels.defined()) out.labels = torch::full({B, M}, -100, labels.options().dtype(torch::kLong));
  out.image_token_mask = torch::zeros({B, M}, long_opts.dtype(torch::kBool));

  // Text tokens: one scatter.
  auto text = valid.logical_and(is_image.logical_not()).logical_and(start < lengths.unsqueeze(1));
  auto text_idx = text.nonzero();  // [K,2] (row, t)
  auto tb = text_idx.select(1, 0), tt = text_idx.select(1, 1);
  auto t_dest = start.index({tb, tt});
  out.inputs_embeds.index_put_({tb, t_dest}, text_embeds.index({tb, tt}));
  if (labels.defined()) out.labels.index_put_({tb, t_dest}, labels.index({tb, tt}).to(torch::kLong));

  // Image slots: the k-th image token (row-major) covers slots start + [0, width); the slots, in order,
  // consume the flattened features [N·F, H].
  if (n_image_tokens > 0) {
    auto img_idx = is_image.nonzero();  // [n_image_tokens, 2]
    auto ib = img_idx.select(1, 0).unsqueeze(1).expand({n_image_tokens, image_width}).reshape(-1);
    auto i_dest = (start.index({img_idx.select(1, 0), img_idx.select(1, 1)}).unsqueeze(1) +
                   torch::arange(image_width, long_opts).unsqueeze(0))
                      .reshape(-1);  // [N·F]
    auto keep = i_dest < lengths.index({ib});
    auto feats = image_features.reshape({-1, image_features.size(-1)}).to(text_embeds.scalar_type());
    VR_CHECK(feats.size(1) == H, "image merge: image features have width {} but text embeddings {}", feats.size(1), H);
    out.inputs_embeds.index_put_({ib.index({keep}), i_dest.index({keep})}, feats.index({keep}));
    out.image_token_mask.index_put_({ib.index({keep}), i_dest.index({keep})}, torch::ones({}, out.image_token_mask.options()));
  }

  auto slot = torch::arange(M, long_opts).unsqueeze(0);  // [1,M]
  auto live = slot < lengths.unsqueeze(1);                // [B,M]
  out.attention_mask = live.to(torch::kLong);
  out.position_ids = torch::where(live, slot.expand({B, M}), torch::ones({}, long_opts));
  out.lengths = lengths;
  return out;
}

}  // namespace vr::model
