// Generation for the vision-language model: the prompt's image placeholders are replaced by image features (the
// merge of lvlm.h), then decoding runs over the MERGED sequence with one KV cache — cache positions count the image
// slots, so a legacy prompt of T ids with N images of F features is a prefill of M = T + N(F-1) positions.
// Matches HF LlavaForConditionalGeneration.generate (v4.44, legacy <image> tokens) for unpadded prompts; for
// left-padded batches the merged rows are left-padded again (padding hidden from every query), as HF's merge does.
#pragma once
#include <ATen/Tensor.h>

#include "vr/model/generate.h"
#include "vr/model/lvlm.h"

namespace vr::model {

// input_ids [B,T] int64, LEFT-padded, one placeholder per image (config().image_token_index or -200) or the
// expanded run of F image tokens; attention_mask [B,T] (undefined = all ones); pixel_values [N,3,S,S], one image per
// placeholder in row-major order, or undefined for text only. Result: sequences = input_ids as given + generated
// ids; attention_mask, cache and prompt_length over the merged sequence. Runs under no-grad.
GenerateResult generate_lvlm(LvlmImpl& model, const at::Tensor& input_ids, const at::Tensor& attention_mask,
                             const at::Tensor& pixel_values, const GenerateOptions& opt);

}  // namespace vr::model
