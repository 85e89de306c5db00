// Which attention a model runs: eager (Hugging Face's op order: the reference path, used by the conformance tests,
// output_attentions and KV-cache decoding) or the fused scaled_dot_product_attention of LibTorch >= 2.0
// (vr/core/torch_compat.h), which training switches on where it exists. Models start eager.
#pragma once
#include <cstdint>

namespace torch::nn {
class Module;
}

namespace vr::model {

// Sets every Llama and vision attention module under `root` (itself included); returns how many were set.
// on == true on a LibTorch without SDPA (1.13) is a vr::Error.
int64_t set_fused_attention(torch::nn::Module& root, bool on);

}  // namespace vr::model
