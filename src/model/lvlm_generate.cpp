// LVLM generation = the LVLM's prefill embeddings, left-aligned, handed to the Llama decoding loop.
//   1. images → tower → projector: features [N,F,H]
//   2. text ids embedded (image placeholders and padding as id 0, never used), features spliced in:
//      merge_image_features gives a RIGHT-padded merged batch [B,M,H] with lengths len_b
//   3. each row shifted right by M - len_b: a LEFT-padded prefill, so every row's next token follows its last
//      real one (HF's merge left-pads too when the ids were left-padded)
//   4. generate_llama over inputs_embeds: positions cumsum(mask) - 1, cache over the M merged slots; later steps
//      feed the chosen ids through embed_tokens (HF ignores pixel_values after the prefill).
#include "vr/model/lvlm_generate.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"
#include "vr/model/image_merge.h"

namespace vr::model {

namespace {

// Right-padded [B,M,...] rows of `lengths` valid slots → left-padded: out[b, j] = x[b, j - (M - len_b)].
at::Tensor right_to_left(const at::Tensor& x, const at::Tensor& lengths, double fill) {
  const int64_t B = x.size(0), M = x.size(1);
  auto slot = at::arange(M, lengths.options()).unsqueeze(0).expand({B, M});  // [B,M]
  auto shift = (M - lengths).unsqueeze(1);                                    // [B,1]
  auto src = (slot - shift).clamp_min(0);                                     // [B,M]
  auto pad = slot < shift;                                                    // [B,M]
  auto index = src;
  auto pad_b = pad;
  for (int64_t d = 2; d < x.dim(); ++d) {
    index = index.unsqueeze(-1);
    pad_b = pad_b.unsqueeze(-1);
  }
  index = index.expand(x.sizes());
  return x.gather(1, index).masked_fill(pad_b.expand(x.sizes()), fill);
}

}  // namespace

GenerateResult generate_lvlm(LvlmImpl& model, const at::Tensor& input_ids, const at::Tensor& attention_mask,
                             const at::Tensor& pixel_values, const GenerateOptions& opt) {
  VR_CHECK(input_ids.defined() && input_ids.dim() == 2, "generate: input_ids must be [B,T], got {}",
           input_ids.defined() ? vr::shape_string(input_ids.sizes()) : std::string("nothing"));
  if (attention_mask.defined())
    VR_CHECK(attention_mask.sizes() == input_ids.sizes(), "generate: attention_mask {} does not match input_ids {}",
             vr::shape_string(attention_mask.sizes()), vr::shape_string(input_ids.sizes()));
  torch::NoGradGuard no_grad;
  const auto& cfg = model.config();
  auto& lm = *model.language_model;
  auto device = lm.model->embed_tokens->weight.device();

  auto ids = input_ids.to(device).to(at::kLong);
  if (cfg.image_token_index != kLlavaImageTokenIndex)  // -200 means an image slot in every layout (see lvlm.cpp)
    ids = ids.masked_fill(ids.eq(kLlavaImageTokenIndex), cfg.image_token_index);
  at::Tensor mask = attention_mask.defined() ? attention_mask.to(device).to(at::kLong) : at::Tensor();

  at::Tensor features;
  if (pixel_values.defined() && pixel_values.numel() > 0) {
    VR_CHECK(pixel_values.dim() == 4 && pixel_values.size(1) == 3, "generate: pixel_values must be [N,3,S,S], got {}",
             vr::shape_string(pixel_values.sizes()));
    features = model.encode_images(pixel_values.to(device).to(lm.model->embed_tokens->weight.scalar_type()));
  }
  auto unused = ids.eq(cfg.image_token_index);
  if (mask.defined()) unused = unused.logical_or(mask.eq(0));
  auto text_embeds = lm.embed(ids.masked_fill(unused, 0));
  auto merged = merge_image_features(ids, text_embeds, mask, at::Tensor(), features, cfg.image_token_index,
                                     cfg.model_max_length);

  LlamaInputs prompt;
  prompt.inputs_embeds = right_to_left(merged.inputs_embeds, merged.lengths, 0.0);
  prompt.attention_mask = right_to_left(merged.attention_mask, merged.lengths, 0.0);
  auto r = generate_llama(lm, prompt, opt);
  r.sequences = at::cat({input_ids.to(device).to(at::kLong), r.generated_ids}, 1);
  return r;
}

}  // namespace vr::model
