// Llama decoder with Hugging Face LlamaForCausalLM semantics and parameter names
// (model.embed_tokens, model.layers.{i}.{input_layernorm,self_attn.{q,k,v,o}_proj,post_attention_layernorm,
//  mlp.{gate,up,down}_proj}, model.norm, lm_head). Shapes: B batch, T tokens, H hidden, V vocab,
// nH query heads, nKV key/value heads, D head_dim.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

namespace vr::model {

struct PackedSegments;  // packed_segments.h

struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t head_dim = 0;  // 0: hidden_size / num_attention_heads
  int64_t max_position_embeddings = 4096;
  double rms_norm_eps = 1e-6;   // HF LlamaConfig default
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  std::string hidden_act = "silu";
  int64_t bos_token_id = 1, eos_token_id = 2;
  std::optional<int64_t> pad_token_id;

  int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  // HF config.json → config (HF class defaults for omitted keys); unknown rope_scaling etc. are rejected.
  static LlamaConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;  // a config.json transformers can load (model_type "llama")
  int64_t num_parameters() const;  // exact count, without allocating
};

// A config of the given shape (vocabulary, widths, depth, heads); every other field keeps the defaults above.
// The named configurations (model_configs.cpp) and tests start from it and set what differs.
LlamaConfig llama_shape(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                        int64_t kv_heads);

// KV cache for incremental decoding. One slot per *physical* decoder layer: after pruning (keep_layers) slot j
// belongs to the j-th remaining layer, never to its old index.
struct KVSlot {
  at::Tensor key, value;  // [B,nKV,S,D] keys after RoPE, values; undefined before the first step
};
struct KVCache {
  std::vector<KVSlot> layers;  // sized to the layer count on first use
  int64_t length() const { return layers.empty() || !layers[0].key.defined() ? 0 : layers[0].key.size(2); }
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  // Normalise in fp32, cast back to the input dtype, then scale (HF order; matters in bf16).
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& c);
  // x [B,T,H]; cos/sin [B,T,D]; mask additive [B,1,T,S] (S = T without cache). Returns [B,T,H].
  // When attn_probs is given it receives the softmax probabilities [B,nH,T,S] (for attention scores).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     at::Tensor* attn_probs = nullptr);
  // Same, appending this call's keys/values to `cache` (when given) and attending over past + new keys.
  // allow_fused = false runs eager even when `fused` is set (LlamaModel: batches with left padding).
  // `segments` (packed rows; no mask, cache or probs then): each sample attends to itself only
  // (segment_attention.h).
  at::Tensor forward_cached(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                            KVSlot* cache, at::Tensor* attn_probs = nullptr, bool allow_fused = true,
                            const PackedSegments* segments = nullptr);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t n_heads, n_kv_heads, head_dim;
  // Fused scaled_dot_product_attention (LibTorch >= 2.0; set by set_fused_attention in attention_backend.h) for
  // calls without a KV cache and without attn_probs; an undefined mask then means causal. Eager otherwise.
  bool fused = false;
};
TORCH_MODULE(LlamaAttention);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const LlamaConfig& c);
  at::Tensor forward(const at::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaConfig& c);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     at::Tensor* attn_probs = nullptr);
  at::Tensor forward_cached(const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                            KVSlot* cache, at::Tensor* attn_probs = nullptr, bool allow_fused = true,
                            const PackedSegments* segments = nullptr);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

// The decoder stack without the head: HF LlamaModel ("model." prefix inside LlamaForCausalLM).
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

struct LlamaInputs {
  at::Tensor input_ids;       // [B,T] int64, or undefined when inputs_embeds is given
  at::Tensor inputs_embeds;   // [B,T,H]
  at::Tensor attention_mask;  // [B,T] (1 attend, 0 padding); undefined = all ones
  at::Tensor position_ids;    // [B,T]; undefined = 0..T-1 (HF default, also for right padding)
  at::Tensor labels;          // [B,T] int64, -100 ignored; loss = CE(logits[:, :-1], labels[:, 1:])
  bool output_hidden_states = false;
  bool output_attentions = false;  // fills LlamaOutput::attentions (eager softmax probs per layer)
  // false with labels (training): no [B,T,V] logits; the loss runs lm_head on the supervised positions only, in
  // chunks of loss_chunk_rows rows (lm_loss.h; 0 = default_loss_chunk_rows(V)). Without labels, ignored.
  bool return_logits = true;
  int64_t loss_chunk_rows = 0;
  // Packed rows (data.packing): the samples of each row; attention stays within each (block-diagonal causal,
  // computed per segment), attention_mask is then not used for attention, position_ids should restart per sample
  // (segment_position_ids). Not with a KV cache or output_attentions.
  std::shared_ptr<const PackedSegments> segments;
  // ShortV's "layer i skips these tokens" (selection strategy layer_contribution): decoder layer `freeze_layer`
  // returns its input unchanged at the positions set in freeze_positions [B,T] bool — they are not attention
  // queries and skip the FFN — while every other position is computed as usual (and still attends to the frozen
  // positions' keys and values, which come from the layer input). -1: off (every normal run).
  int64_t freeze_layer = -1;
  at::Tensor freeze_positions;
};

struct LlamaOutput {
  at::Tensor logits;                       // [B,T,V] (float32 when computed for the loss)
  at::Tensor loss;                         // [] mean CE over non-ignored tokens, undefined without labels
  int64_t supervised_tokens = -1;          // positions the loss averages over; -1 unless return_logits is false
  std::vector<at::Tensor> hidden_states;   // L+1 entries: embeddings, each layer's output, last after final norm
  std::vector<at::Tensor> attentions;      // L entries [B,nH,T,T] when requested
};

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLMImpl(const LlamaConfig& c);
  LlamaOutput forward(const LlamaInputs& in);
  // Incremental decoding: attends over the keys already in `cache` plus the new tokens and appends theirs.
  // attention_mask (when given) covers past + new tokens; default position ids continue at cache->length().
  // Gradient checkpointing is not used on this path.
  LlamaOutput forward_cached(const LlamaInputs& in, KVCache* cache);
  at::Tensor embed(const at::Tensor& input_ids);  // [B,T] → [B,T,H]

  // Per decoder layer: recompute activations in backward instead of storing them.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }
  const LlamaConfig& config() const { return config_; }
  LlamaDecoderLayer layer(int64_t i) const;
  // Keeps only the listed decoder layers (old indices, ascending), renumbered 0..n-1 (pruning).
  void keep_layers(const std::vector<int64_t>& kept);

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // shares model.embed_tokens' weight when tied

 private:
  LlamaConfig config_;
  bool gradient_checkpointing_ = false;
};
TORCH_MODULE(LlamaForCausalLM);

// Loads config.json + safetensors from an HF directory; fails listing missing/mismatched keys.
// dtype: parameter dtype (default float32, as HF from_pretrained without torch_dtype).
LlamaForCausalLM load_llama(const std::string& dir, std::optional<at::ScalarType> dtype = std::nullopt);

// Copies `checkpoint[prefix + name]` into every parameter `name` of `model` (converted to the parameter's dtype
// and device), e.g. prefix "language_model." for a llava-hf checkpoint. Throws vr::Error listing missing,
// mismatched and unexpected names (names outside `prefix` are ignored; so are rotary_emb.inv_freq buffers and,
// when tied, lm_head.weight). `source` names the checkpoint in messages.
void load_llama_weights(LlamaForCausalLMImpl& model, const std::map<std::string, at::Tensor>& checkpoint,
                        const std::string& prefix = "", const std::string& source = "checkpoint");

// Shifted causal-LM cross-entropy: logits [B,T,V], labels [B,T] → mean over labels[:,1:] != -100 (fp32).
at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace vr::model
