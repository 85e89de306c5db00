// Llama decoder (HF LlamaForCausalLM, transformers 4.44 eager path). Shapes: B batch, T tokens, H hidden,
// V vocab, nH query heads, nKV key/value heads, D head_dim, I intermediate. Every op mirrors HF's order so that
// float32 CPU results match the reference bit for bit (see docs/models.md for the measured differences).
#include "vr/model/llama.h"

#include <cmath>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/torch_compat.h"
#include "vr/model/attention_mask.h"
#include "vr/model/activation_checkpointing.h"
#include "vr/model/lm_loss.h"
#include "vr/model/linear.h"  // apply_linear: adds the branches adaptation code attached from outside
#include "vr/model/packed_segments.h"
#include "vr/model/param_init.h"
#include "vr/model/rope.h"
#include "vr/model/segment_attention.h"

namespace vr::model {

// ---- RMSNorm -------------------------------------------------------------------------------------------------

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  auto xf = x.to(at::kFloat);
  auto variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  auto normed = xf * at::rsqrt(variance + eps);
  return weight * normed.to(x.scalar_type());  // HF: weight * x.to(input_dtype)
}

// ---- attention -----------------------------------------------------------------------------------------------

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c)
    : n_heads(c.num_attention_heads), n_kv_heads(c.num_key_value_heads), head_dim(c.resolved_head_dim()) {
  q_proj = register_module("q_proj", make_linear(c.hidden_size, n_heads * head_dim, c.attention_bias));
  k_proj = register_module("k_proj", make_linear(c.hidden_size, n_kv_heads * head_dim, c.attention_bias));
  v_proj = register_module("v_proj", make_linear(c.hidden_size, n_kv_heads * head_dim, c.attention_bias));
  o_proj = register_module("o_proj", make_linear(n_heads * head_dim, c.hidden_size, c.attention_bias));
}

// [B,nKV,S,D] → [B,nKV·r,S,D]: kv head j serves query heads j·r … j·r+r−1 (HF repeat_kv).
static at::Tensor repeat_kv(const at::Tensor& x, int64_t r) {
  if (r == 1) return x;
  auto B = x.size(0), nkv = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, nkv, r, S, D}).reshape({B, nkv * r, S, D});
}

at::Tensor LlamaAttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                       const at::Tensor& mask, at::Tensor* attn_probs) {
  return forward_cached(x, cos, sin, mask, nullptr, attn_probs);
}

at::Tensor LlamaAttentionImpl::forward_cached(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                              const at::Tensor& mask, KVSlot* cache, at::Tensor* attn_probs,
                                              bool allow_fused, const PackedSegments* segments) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = apply_linear(q_proj, x).view({B, T, n_heads, head_dim}).transpose(1, 2);      // [B,nH,T,D]
  auto k = apply_linear(k_proj, x).view({B, T, n_kv_heads, head_dim}).transpose(1, 2);   // [B,nKV,T,D]
  auto v = apply_linear(v_proj, x).view({B, T, n_kv_heads, head_dim}).transpose(1, 2);   // [B,nKV,T,D]
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  if (cache) {  // append this step's keys/values (after RoPE) to the layer's slot: S = past + T
    if (cache->key.defined()) {
      k = at::cat({cache->key, k}, 2);
      v = at::cat({cache->value, v}, 2);
    }
    cache->key = k;
    cache->value = v;
  }
  if (segments) {  // packed rows: per-sample causal attention, eager or fused per segment
    VR_CHECK(!cache && !attn_probs, "packed rows: no KV cache and no attention probabilities");
    auto out = segment_attention(q, k, v, *segments, fused && allow_fused);
    return apply_linear(o_proj, out.transpose(1, 2).contiguous().reshape({B, T, n_heads * head_dim}));
  }
  if (fused && allow_fused && !cache && !attn_probs) {
    // Fused kernel; grouped-query heads without a K/V copy where LibTorch allows (torch_compat.h). Same maths as
    // below up to rounding: softmax(q·kᵀ/sqrt(D) + mask)·v, or causal when no mask is given.
    auto out = compat::scaled_dot_product_attention(q, k, v, mask, /*is_causal=*/!mask.defined());
    return apply_linear(o_proj, out.transpose(1, 2).contiguous().reshape({B, T, n_heads * head_dim}));
  }
  const int64_t r = n_heads / n_kv_heads;
  auto kr = repeat_kv(k, r), vr_ = repeat_kv(v, r);
  // scores = q·kᵀ / sqrt(D) + mask; HF divides after the product (not q·D^-1/2 first), which changes rounding.
  auto scores = at::matmul(q, kr.transpose(2, 3)) / std::sqrt(static_cast<double>(head_dim));  // [B,nH,T,S]
  if (mask.defined()) scores = scores + mask;
  else if (fused) scores = scores + causal_attention_mask({}, B, T, k.size(2) - T, scores.scalar_type(), x.device());
  auto probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  if (attn_probs) *attn_probs = probs;
  auto out = at::matmul(probs, vr_);                                  // [B,nH,T,D]
  out = out.transpose(1, 2).contiguous().reshape({B, T, n_heads * head_dim});
  return apply_linear(o_proj, out);
}

// ---- MLP and decoder layer -----------------------------------------------------------------------------------

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", make_linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

at::Tensor LlamaMLPImpl::forward(const at::Tensor& x) {
  return apply_linear(down_proj, at::silu(apply_linear(gate_proj, x)) * apply_linear(up_proj, x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor LlamaDecoderLayerImpl::forward(const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin,
                                          const at::Tensor& mask, at::Tensor* attn_probs) {
  return forward_cached(h, cos, sin, mask, nullptr, attn_probs);
}

at::Tensor LlamaDecoderLayerImpl::forward_cached(const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin,
                                                 const at::Tensor& mask, KVSlot* cache, at::Tensor* attn_probs,
                                                 bool allow_fused, const PackedSegments* segments) {
  auto x = h + self_attn->forward_cached(input_layernorm(h), cos, sin, mask, cache, attn_probs, allow_fused, segments);
  return x + mlp(post_attention_layernorm(x));
}

// ---- model ---------------------------------------------------------------------------------------------------

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) {
  auto eo = torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size);
  if (c.pad_token_id && *c.pad_token_id >= 0 && *c.pad_token_id < c.vocab_size)
    eo.padding_idx(*c.pad_token_id);  // HF: nn.Embedding(V, H, padding_idx=pad_token_id) → no gradient on that row
  embed_tokens = register_module("embed_tokens", make_embedding(eo));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c) : config_(c) {
  model = register_module("model", LlamaModel(c));
  lm_head = make_linear(c.hidden_size, c.vocab_size, false);
  if (c.tie_word_embeddings) {
    // One tensor, listed once (as HF's named_parameters() does): lm_head stays unregistered and reads
    // model.embed_tokens.weight; Module::to() converts that tensor in place, so the tie survives dtype moves.
    lm_head->weight = model->embed_tokens->weight;
  } else {
    register_module("lm_head", lm_head);
  }
}

LlamaDecoderLayer LlamaForCausalLMImpl::layer(int64_t i) const {
  const int64_t n = static_cast<int64_t>(model->layers->size());
  VR_CHECK(i >= 0 && i < n, "decoder layer index {} out of range (model has {} layers)", i, n);
  return model->layers->ptr<LlamaDecoderLayerImpl>(i);
}

at::Tensor LlamaForCausalLMImpl::embed(const at::Tensor& input_ids) {
  VR_CHECK(input_ids.dim() == 2, "input_ids must be [B,T], got shape {}", c10::str(input_ids.sizes()));
  VR_CHECK(!at::isFloatingType(input_ids.scalar_type()), "input_ids must be integer token ids, got {}",
           c10::toString(input_ids.scalar_type()));
  auto ids = input_ids.to(at::kLong);
  if (ids.numel() > 0) {
    const auto range = at::stack({ids.min(), ids.max()}).to(at::kCPU);  // one host read for both
    const int64_t lo = range[0].item<int64_t>(), hi = range[1].item<int64_t>();
    VR_CHECK(lo >= 0 && hi < config_.vocab_size, "input_ids hold token id {} outside the vocabulary [0, {})",
             lo < 0 ? lo : hi, config_.vocab_size);
  }
  return model->embed_tokens(ids);
}

void LlamaForCausalLMImpl::keep_layers(const std::vector<int64_t>& kept) {
  const int64_t n = static_cast<int64_t>(model->layers->size());
  torch::nn::ModuleList fresh;
  for (size_t j = 0; j < kept.size(); ++j) {
    VR_CHECK(kept[j] >= 0 && kept[j] < n, "keep_layers: layer {} does not exist (model has {} layers)", kept[j], n);
    VR_CHECK(j == 0 || kept[j] > kept[j - 1], "keep_layers: indices must be strictly ascending, got {} after {}",
             kept[j], kept[j - 1]);
    fresh->push_back(model->layers[kept[j]]);
  }
  model->layers = model->replace_module("layers", fresh);  // renumbers names: model.layers.{j}
  config_.num_hidden_layers = static_cast<int64_t>(kept.size());
}

LlamaOutput LlamaForCausalLMImpl::forward(const LlamaInputs& in) {
  return forward_cached(in, nullptr);
}

LlamaOutput LlamaForCausalLMImpl::forward_cached(const LlamaInputs& in, KVCache* cache) {
  VR_CHECK(in.input_ids.defined() != in.inputs_embeds.defined(),
           "Llama forward needs exactly one of input_ids and inputs_embeds");
  at::Tensor h = in.inputs_embeds.defined() ? in.inputs_embeds : embed(in.input_ids);
  VR_CHECK(h.dim() == 3 && h.size(2) == config_.hidden_size, "inputs_embeds must be [B,T,{}], got {}",
           config_.hidden_size, c10::str(h.sizes()));
  const int64_t B = h.size(0), T = h.size(1);
  const int64_t L = static_cast<int64_t>(model->layers->size());
  const int64_t past = cache ? cache->length() : 0;
  if (cache && cache->layers.empty()) cache->layers.resize(L);
  VR_CHECK(!cache || static_cast<int64_t>(cache->layers.size()) == L,
           "KV cache has {} layer slots but the model has {} layers", cache ? cache->layers.size() : 0, L);

  const PackedSegments* segments = in.segments.get();
  if (segments)
    VR_CHECK(!cache && !in.output_attentions && segments->rows() == B,
             "packed rows: {} rows of segments for a batch of {}, and neither a KV cache nor output_attentions",
             segments->rows(), B);
  at::Tensor positions = in.position_ids;
  if (!positions.defined() && segments) positions = segment_position_ids(*segments, T, h.device());
  if (!positions.defined())
    positions = at::arange(past, past + T, at::TensorOptions().dtype(at::kLong).device(h.device()))
                    .unsqueeze(0).expand({B, T});
  VR_CHECK(positions.dim() == 2 && positions.size(0) == B && positions.size(1) == T,
           "position_ids must be [{}, {}], got {}", B, T, c10::str(positions.sizes()));
  auto [cos, sin] = rope_cos_sin(positions.to(h.device()), config_.resolved_head_dim(), config_.rope_theta,
                                 h.scalar_type());
  if (in.attention_mask.defined())
    VR_CHECK(in.attention_mask.dim() == 2 && in.attention_mask.size(0) == B && in.attention_mask.size(1) == past + T,
             "attention_mask must be [{}, {}], got {}", B, past + T, c10::str(in.attention_mask.sizes()));
  // Training with fused attention on a right-padded batch (or none): causal alone gives every real position the
  // same keys as the dense mask (its padded keys all lie in its future), and no [B,1,T,T] tensor is built. Only
  // the loss may be asked for then, since padded positions' outputs differ from the dense mask's.
  const bool fused = L > 0 && layer(0)->self_attn->fused;
  const bool fused_pass = fused && !cache;
  const bool right_padded = !fused_pass || is_right_padded(in.attention_mask);  // one host read, fused only
  const bool causal_only = (fused_pass && right_padded && !in.output_attentions && !in.output_hidden_states &&
                            in.labels.defined() && !in.return_logits) ||
                           segments;  // packed: the segments are the mask
  at::Tensor mask;
  if (!causal_only) mask = causal_attention_mask(in.attention_mask, B, T, past, h.scalar_type(), h.device());
  // Left padding runs eager even with fused attention on. Its padded queries see no key: eager gives them HF's
  // uniform softmax (the last pad position predicts the first real token, so that output is in the loss), but the
  // fused kernels' gradients on such rows were O(1) away from eager's (FusedAttention test, LibTorch 2.11 CPU;
  // likely their backward recomputing softmax from a saved logsumexp, which finfo.min-sized scores round away).
  // Training batches are right-padded (the collator), so the fused path still serves them.
  const bool allow_fused = right_padded;

  LlamaOutput out;
  const bool use_checkpoint = gradient_checkpointing_ && !cache && !in.output_attentions && at::GradMode::is_enabled();
  if (in.freeze_layer >= 0)
    VR_CHECK(in.freeze_layer < L && in.freeze_positions.defined() && in.freeze_positions.dim() == 2 &&
                 in.freeze_positions.size(0) == B && in.freeze_positions.size(1) == T,
             "freeze_layer {} needs a layer index below {} and freeze_positions [{}, {}]", in.freeze_layer, L, B, T);
  for (int64_t i = 0; i < L; ++i) {
    if (in.output_hidden_states) out.hidden_states.push_back(h);
    const at::Tensor layer_input = h;
    auto layer_i = layer(i);
    if (use_checkpoint) {
      std::vector<at::Tensor> params;
      for (auto& p : layer_i->parameters()) params.push_back(p);
      // The segments are shared, not copied: the recompute in backward reads the same ones.
      auto fn = [impl = layer_i.ptr(), allow_fused, segs = in.segments](const std::vector<at::Tensor>& x)
          -> std::vector<at::Tensor> {
        const at::Tensor m = x[3].numel() > 0 ? x[3] : at::Tensor();  // empty: causal only
        return {impl->forward_cached(x[0], x[1], x[2], m, nullptr, nullptr, allow_fused,
                                     segs.get())};  // x = {h, cos, sin, mask}
      };
      h = checkpoint(fn, {h, cos, sin, mask.defined() ? mask : at::empty({0}, h.options())}, params)[0];
    } else {
      at::Tensor probs;
      h = layer_i->forward_cached(h, cos, sin, mask, cache ? &cache->layers[i] : nullptr,
                                  in.output_attentions ? &probs : nullptr, allow_fused, segments);
      if (in.output_attentions) out.attentions.push_back(probs);
    }
    // Frozen positions: output = input ([B,T,1] mask broadcast over H). Text positions already read the layer
    // input's keys/values at those positions, so nothing else changes.
    if (i == in.freeze_layer)
      h = at::where(in.freeze_positions.to(h.device()).to(at::kBool).unsqueeze(-1), layer_input, h);
  }
  h = model->norm(h);
  if (in.output_hidden_states) out.hidden_states.push_back(h);
  if (in.labels.defined() && !in.return_logits) {
    // Training: lm_head + cross-entropy on the supervised positions only, chunked; no [B,T,V] tensor.
    SupervisedLoss sl = supervised_lm_loss(h, lm_head->weight, in.labels, in.loss_chunk_rows);
    out.loss = sl.loss;
    out.supervised_tokens = sl.supervised;
    return out;
  }
  out.logits = lm_head(h).to(at::kFloat);  // HF 4.44 always upcasts logits
  if (in.labels.defined()) out.loss = causal_lm_loss(out.logits, in.labels);
  return out;
}

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels) {
  VR_CHECK(logits.dim() == 3, "causal_lm_loss: logits must be [B,T,V], got {}", c10::str(logits.sizes()));
  VR_CHECK(labels.dim() == 2 && labels.size(0) == logits.size(0) && labels.size(1) == logits.size(1),
           "causal_lm_loss: labels must be [{}, {}], got {}", logits.size(0), logits.size(1),
           c10::str(labels.sizes()));
  const int64_t V = logits.size(2), T = logits.size(1);
  // Position t predicts token t+1: logits[:, :-1] vs labels[:, 1:]; -100 targets are skipped, mean over the rest.
  auto shift_logits = logits.narrow(1, 0, T - 1).to(at::kFloat).contiguous().view({-1, V});
  auto shift_labels = labels.narrow(1, 1, T - 1).to(logits.device()).to(at::kLong).contiguous().view({-1});
  auto valid = shift_labels.ne(-100);
  if (valid.any().item<bool>()) {
    auto bad = at::logical_and(valid, at::logical_or(shift_labels < 0, shift_labels >= V));
    VR_CHECK(!bad.any().item<bool>(), "labels hold a target outside [0, {}) that is not -100", V);
  }
  return at::cross_entropy_loss(shift_logits, shift_labels, {}, at::Reduction::Mean, -100, 0.0);
}

}  // namespace vr::model
