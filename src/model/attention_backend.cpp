#include "vr/model/attention_backend.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/llama.h"
#include "vr/model/vision_transformer.h"

namespace vr::model {

int64_t set_fused_attention(torch::nn::Module& root, bool on) {
  VR_CHECK(!on || compat::sdpa_available(),
           "fused attention (scaled_dot_product_attention) needs LibTorch >= 2.0; this build has {}",
           compat::torch_version());
  int64_t n = 0;
  auto set = [&](torch::nn::Module* m) {
    if (auto* a = dynamic_cast<LlamaAttentionImpl*>(m)) {
      a->fused = on;
      ++n;
    } else if (auto* v = dynamic_cast<VisionAttentionImpl*>(m)) {
      v->fused = on;
      ++n;
    }
  };
  set(&root);
  for (const auto& m : root.modules(/*include_self=*/false)) set(m.get());
  return n;
}

}  // namespace vr::model
