#include "vr/model/vision_transformer.h"

#include <cmath>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/linear.h"
#include "vr/core/shape_string.h"
#include "vr/model/param_init.h"

namespace vr::model {

namespace F = torch::nn::functional;

at::Tensor vision_activation(const at::Tensor& x, const std::string& name) {
  if (name == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return at::gelu(x, "tanh");
  if (name == "gelu") return at::gelu(x);
  VR_FAIL("vision activation '{}' is not supported", name);
}

// ---- embeddings -------------------------------------------------------------------------------

VisionEmbeddingsImpl::VisionEmbeddingsImpl(const VisionConfig& c) {
  const int64_t H = c.hidden_size;
  if (c.is_clip())  // randn as HF's init; left unset when loading (vr/model/param_init.h)
    class_embedding = register_parameter("class_embedding", init_deferred() ? torch::empty({H}) : torch::randn({H}));
  patch_embedding = register_module(
      "patch_embedding",
      make_conv2d(torch::nn::Conv2dOptions(c.num_channels, H, c.patch_size).stride(c.patch_size).bias(!c.is_clip())));
  position_embedding = register_module("position_embedding", make_embedding(torch::nn::EmbeddingOptions(c.num_positions(), H)));
}

at::Tensor VisionEmbeddingsImpl::forward(const at::Tensor& pixel_values) {
  const auto& w = patch_embedding->weight;
  VR_CHECK(pixel_values.dim() == 4 && pixel_values.size(1) == w.size(1),
           "vision tower: pixel_values must be [B,{},S,S], got {}", w.size(1), vr::shape_string(pixel_values.sizes()));
  auto patches = patch_embedding(pixel_values.to(w.scalar_type()));  // [B,H,g,g]
  auto x = patches.flatten(2).transpose(1, 2);                          // [B,P,H], row-major over the grid
  if (class_embedding.defined()) {
    auto cls = class_embedding.view({1, 1, -1}).expand({x.size(0), 1, x.size(2)});
    x = torch::cat({cls, x}, 1);  // [B,1+P,H]
  }
  const auto& pos = position_embedding->weight;  // [N,H]
  VR_CHECK(x.size(1) == pos.size(0),
           "vision tower: image gives {} tokens but position_embedding has {} (image_size mismatch: got {}x{})",
           x.size(1), pos.size(0), pixel_values.size(2), pixel_values.size(3));
  return x + pos.unsqueeze(0);
}

// ---- attention, MLP, encoder layer --------------------------------------------------------------

VisionAttentionImpl::VisionAttentionImpl(const VisionConfig& c)
    : n_heads(c.num_attention_heads), head_dim(c.head_dim()), scale_query_first(c.is_clip()) {
  const int64_t H = c.hidden_size;
  q_proj = register_module("q_proj", make_linear(H, H));
  k_proj = register_module("k_proj", make_linear(H, H));
  v_proj = register_module("v_proj", make_linear(H, H));
  out_proj = register_module("out_proj", make_linear(H, H));
}

at::Tensor VisionAttentionImpl::forward(const at::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  auto heads = [&](const at::Tensor& t) { return t.view({B, N, n_heads, head_dim}).transpose(1, 2); };  // [B,nH,N,D]
  at::Tensor q = apply_linear(q_proj, x);
  if (fused) {  // the fused kernel applies the scale itself (rounding differs from HF's order, nothing else)
    auto out = vr::compat::scaled_dot_product_attention(heads(q), heads(apply_linear(k_proj, x)),
                                                        heads(apply_linear(v_proj, x)), at::Tensor(),
                                                        /*is_causal=*/false, scale);
    return apply_linear(out_proj, out.transpose(1, 2).reshape({B, N, n_heads * head_dim}));
  }
  if (scale_query_first) q = q * scale;
  q = heads(q);
  auto k = heads(apply_linear(k_proj, x));
  auto v = heads(apply_linear(v_proj, x));
  auto scores = torch::matmul(q, k.transpose(2, 3));  // [B,nH,N,N]
  if (!scale_query_first) scores = scores * scale;
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  auto out = torch::matmul(probs, v).transpose(1, 2).reshape({B, N, n_heads * head_dim});
  return apply_linear(out_proj, out);
}

VisionMLPImpl::VisionMLPImpl(int64_t hidden, int64_t intermediate, std::string act_name) : act(std::move(act_name)) {
  fc1 = register_module("fc1", make_linear(hidden, intermediate));
  fc2 = register_module("fc2", make_linear(intermediate, hidden));
}

at::Tensor VisionMLPImpl::forward(const at::Tensor& x) { return apply_linear(fc2, vision_activation(apply_linear(fc1, x), act)); }

static torch::nn::LayerNorm make_layer_norm(const VisionConfig& c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps));
}

VisionEncoderLayerImpl::VisionEncoderLayerImpl(const VisionConfig& c) {
  self_attn = register_module("self_attn", VisionAttention(c));
  layer_norm1 = register_module("layer_norm1", make_layer_norm(c));
  mlp = register_module("mlp", VisionMLP(c.hidden_size, c.intermediate_size, c.hidden_act));
  layer_norm2 = register_module("layer_norm2", make_layer_norm(c));
}

at::Tensor VisionEncoderLayerImpl::forward(const at::Tensor& x) {
  auto h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

VisionEncoderImpl::VisionEncoderImpl(const VisionConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(VisionEncoderLayer(c));
}

// ---- SigLIP attention-pooling head --------------------------------------------------------------

PoolingAttentionImpl::PoolingAttentionImpl(int64_t hidden, int64_t heads) : n_heads(heads) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * hidden, hidden}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * hidden}));
  if (!init_deferred()) torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj = register_module("out_proj", make_linear(hidden, hidden));
}

at::Tensor PoolingAttentionImpl::forward(const at::Tensor& query, const at::Tensor& kv) {
  const int64_t B = query.size(0), Q = query.size(1), N = kv.size(1), H = query.size(2), D = H / n_heads;
  auto w = in_proj_weight.chunk(3, 0);  // q, k, v rows in that order
  auto b = in_proj_bias.chunk(3, 0);
  auto heads = [&](const at::Tensor& t, int64_t len) { return t.view({B, len, n_heads, D}).transpose(1, 2); };
  auto q = heads(F::linear(query, w[0], b[0]), Q) / std::sqrt(static_cast<double>(D));
  auto k = heads(F::linear(kv, w[1], b[1]), N);
  auto v = heads(F::linear(kv, w[2], b[2]), N);
  auto probs = torch::softmax(torch::matmul(q, k.transpose(2, 3)), -1);  // [B,nH,Q,N]
  auto out = torch::matmul(probs, v).transpose(1, 2).reshape({B, Q, H});
  return out_proj(out);
}

AttentionPoolingHeadImpl::AttentionPoolingHeadImpl(const VisionConfig& c) {
  probe = register_parameter("probe", init_deferred() ? torch::empty({1, 1, c.hidden_size})
                                                      : torch::randn({1, 1, c.hidden_size}));
  attention = register_module("attention", PoolingAttention(c.hidden_size, c.num_attention_heads));
  layernorm = register_module("layernorm", make_layer_norm(c));
  mlp = register_module("mlp", VisionMLP(c.hidden_size, c.intermediate_size, c.hidden_act));
}

at::Tensor AttentionPoolingHeadImpl::forward(const at::Tensor& x) {
  auto query = probe.expand({x.size(0), 1, probe.size(2)});
  auto h = attention(query, x);  // [B,1,H]
  h = h + mlp(layernorm(h));
  return h.select(1, 0);  // [B,H]
}

// ---- the transformer -----------------------------------------------------------------------------

VisionTransformerImpl::VisionTransformerImpl(const VisionConfig& c) : config_(c) {
  embeddings = register_module("embeddings", VisionEmbeddings(c));
  if (c.is_clip()) pre_layrnorm = register_module("pre_layrnorm", make_layer_norm(c));
  encoder = register_module("encoder", VisionEncoder(c));
  post_layernorm = register_module("post_layernorm", make_layer_norm(c));
  if (!c.is_clip() && c.vision_use_head) head = register_module("head", AttentionPoolingHead(c));
}

VisionOutput VisionTransformerImpl::forward(const at::Tensor& pixel_values, int64_t num_layers,
                                            bool keep_hidden_states) {
  const int64_t L = config_.num_hidden_layers;
  if (num_layers < 0) num_layers = L;
  VR_CHECK(num_layers <= L, "vision tower: asked for {} layers, the model has {}", num_layers, L);
  VisionOutput out;
  auto h = embeddings(pixel_values);
  if (pre_layrnorm) h = pre_layrnorm(h);
  if (keep_hidden_states) out.hidden_states.push_back(h);
  for (int64_t i = 0; i < num_layers; ++i) {
    h = encoder->layers->ptr<VisionEncoderLayerImpl>(i)->forward(h);
    if (keep_hidden_states) out.hidden_states.push_back(h);
  }
  out.encoder_output = h;
  if (num_layers < L) return out;
  if (config_.is_clip()) {
    out.last_hidden_state = h;
    out.pooler_output = post_layernorm(h.select(1, 0));
  } else {
    out.last_hidden_state = post_layernorm(h);
    if (head) out.pooler_output = head(out.last_hidden_state);
  }
  return out;
}

}  // namespace vr::model
