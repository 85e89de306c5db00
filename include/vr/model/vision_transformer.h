// ViT vision encoder with Hugging Face CLIPVisionTransformer / SiglipVisionTransformer semantics and
// parameter names (relative to "vision_model."):
//   embeddings.{class_embedding (CLIP), patch_embedding.{weight,bias (SigLIP)}, position_embedding.weight}
//   pre_layrnorm (CLIP, HF's spelling), encoder.layers.{i}.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2,
//   mlp.{fc1,fc2}}, post_layernorm, head.{probe, attention.{in_proj_weight,in_proj_bias,out_proj}, layernorm, mlp}
//   (SigLIP attention-pooling head).
// Shapes: B images, C channels, S image side, g = S / patch (grid), P = g² patches, N tokens (P, +1 CLS for CLIP),
// H hidden, I intermediate, nH heads, D = H / nH.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "vr/model/vision_config.h"

namespace vr::model {

// quick_gelu: x·σ(1.702x) (CLIP); gelu_pytorch_tanh / gelu_new: tanh approximation (SigLIP); gelu: exact erf.
at::Tensor vision_activation(const at::Tensor& x, const std::string& name);

class VisionEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit VisionEmbeddingsImpl(const VisionConfig& c);
  // pixel_values [B,C,S,S] → [B,N,H]: patch conv ("valid": remainder pixels dropped), row-major flatten,
  // CLS prepended (CLIP), + position embeddings.
  at::Tensor forward(const at::Tensor& pixel_values);
  at::Tensor class_embedding;  // [H], CLIP only
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};  // [N,H]
};
TORCH_MODULE(VisionEmbeddings);

class VisionAttentionImpl : public torch::nn::Module {
 public:
  explicit VisionAttentionImpl(const VisionConfig& c);
  at::Tensor forward(const at::Tensor& x);  // [B,N,H] → [B,N,H], bidirectional, no mask
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t n_heads, head_dim;
  bool scale_query_first;  // CLIP scales q before q·kᵀ, SigLIP scales the product (same maths, HF op order)
  bool fused = false;      // scaled_dot_product_attention (LibTorch >= 2.0; attention_backend.h) instead of eager
};
TORCH_MODULE(VisionAttention);

class VisionMLPImpl : public torch::nn::Module {
 public:
  VisionMLPImpl(int64_t hidden, int64_t intermediate, std::string act);
  at::Tensor forward(const at::Tensor& x);  // fc2(act(fc1(x)))
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  std::string act;
};
TORCH_MODULE(VisionMLP);

class VisionEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit VisionEncoderLayerImpl(const VisionConfig& c);
  at::Tensor forward(const at::Tensor& x);  // h = x + attn(ln1(x)); out = h + mlp(ln2(h))
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  VisionAttention self_attn{nullptr};
  VisionMLP mlp{nullptr};
};
TORCH_MODULE(VisionEncoderLayer);

class VisionEncoderImpl : public torch::nn::Module {
 public:
  explicit VisionEncoderImpl(const VisionConfig& c);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(VisionEncoder);

// torch nn.MultiheadAttention (batch_first, no masks) as SigLIP's head uses it: packed q/k/v rows in
// in_proj_weight [3H,H] / in_proj_bias [3H], q scaled by D^-0.5, softmax over keys, out_proj.
class PoolingAttentionImpl : public torch::nn::Module {
 public:
  PoolingAttentionImpl(int64_t hidden, int64_t n_heads);
  at::Tensor forward(const at::Tensor& query, const at::Tensor& kv);  // [B,Q,H], [B,N,H] → [B,Q,H]
  at::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
  int64_t n_heads;
};
TORCH_MODULE(PoolingAttention);

// SigLIP's MultiheadAttentionPoolingHead: a learned probe query attends over the tokens (torch
// nn.MultiheadAttention, packed q/k/v in_proj), then x + mlp(layernorm(x)); returns token 0 → [B,H].
class AttentionPoolingHeadImpl : public torch::nn::Module {
 public:
  explicit AttentionPoolingHeadImpl(const VisionConfig& c);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor probe;  // [1,1,H]
  PoolingAttention attention{nullptr};
  torch::nn::LayerNorm layernorm{nullptr};
  VisionMLP mlp{nullptr};
};
TORCH_MODULE(AttentionPoolingHead);

struct VisionOutput {
  // Entry 0: CLIP after pre_layrnorm, SigLIP the embeddings; entry i: output of encoder layer i (1-based),
  // never post-layernormed. Only filled when requested.
  std::vector<at::Tensor> hidden_states;
  at::Tensor encoder_output;     // output of the last layer that ran (== hidden_states.back()), no post-LN
  at::Tensor last_hidden_state;  // CLIP: last layer output; SigLIP: post_layernorm(last layer output)
  at::Tensor pooler_output;      // CLIP: post_layernorm(last[:,0]); SigLIP: head(last_hidden_state) [B,H]
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const VisionConfig& c);
  // Runs the first `num_layers` encoder layers (-1: all). last_hidden_state / pooler_output are only
  // computed when all layers ran; hidden_states only when keep_hidden_states.
  VisionOutput forward(const at::Tensor& pixel_values, int64_t num_layers = -1, bool keep_hidden_states = true);
  const VisionConfig& config() const { return config_; }

  VisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // CLIP only
  VisionEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};
  AttentionPoolingHead head{nullptr};  // SigLIP with vision_use_head only

 private:
  VisionConfig config_;
};
TORCH_MODULE(VisionTransformer);

}  // namespace vr::model
