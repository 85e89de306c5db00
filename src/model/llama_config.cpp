// LlamaConfig ↔ HF config.json, and the exact parameter count.
#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/model/llama.h"

namespace vr::model {

namespace {

// Reads j[key] as T when present and not null; otherwise keeps `v` (the HF class default).
template <typename T>
void read(const nlohmann::json& j, const char* key, T& v) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    v = it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("config.json: key '{}' has the wrong type ({}): {}", key, it->type_name(), it->dump());
  }
}

// bos/eos may be an int, null or (Llama-3 Instruct) a list of ints: keep the first.
void read_token_id(const nlohmann::json& j, const char* key, int64_t& v) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (it->is_array()) {
    VR_CHECK(!it->empty() && (*it)[0].is_number_integer(), "config.json: '{}' must be an int or a list of ints: {}",
             key, it->dump());
    v = (*it)[0].get<int64_t>();
    return;
  }
  read(j, key, v);
}

}  // namespace

LlamaConfig llama_shape(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                        int64_t kv_heads) {
  return LlamaConfig{vocab, hidden, intermediate, layers, heads, kv_heads};  // the struct's first six fields
}

LlamaConfig LlamaConfig::from_json(const nlohmann::json& j) {
  VR_CHECK(j.is_object(), "config.json: expected a JSON object");
  if (j.contains("model_type") && j["model_type"].is_string())
    VR_CHECK(j["model_type"] == "llama", "config.json: model_type '{}' is not a Llama model (expected \"llama\")",
             j["model_type"].get<std::string>());
  // HF LlamaConfig class defaults (transformers 4.44) for keys that config.json may omit: the struct's defaults
  // (vocabulary 32000, 4096 x 11008, 32 layers and heads, eps 1e-6, rope 1e4, untied, BOS 1, EOS 2) but a
  // 2048-token context.
  LlamaConfig c;
  c.max_position_embeddings = 2048;
  read(j, "vocab_size", c.vocab_size);
  read(j, "hidden_size", c.hidden_size);
  read(j, "intermediate_size", c.intermediate_size);
  read(j, "num_hidden_layers", c.num_hidden_layers);
  read(j, "num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;  // HF: None → MHA
  read(j, "num_key_value_heads", c.num_key_value_heads);
  read(j, "head_dim", c.head_dim);
  read(j, "max_position_embeddings", c.max_position_embeddings);
  read(j, "rms_norm_eps", c.rms_norm_eps);
  read(j, "rope_theta", c.rope_theta);
  read(j, "tie_word_embeddings", c.tie_word_embeddings);
  read(j, "attention_bias", c.attention_bias);
  read(j, "mlp_bias", c.mlp_bias);
  read(j, "hidden_act", c.hidden_act);
  read_token_id(j, "bos_token_id", c.bos_token_id);
  read_token_id(j, "eos_token_id", c.eos_token_id);
  if (j.contains("pad_token_id") && !j["pad_token_id"].is_null()) {
    int64_t pad = 0;
    read_token_id(j, "pad_token_id", pad);
    c.pad_token_id = pad;
  }

  // Features whose math this implementation does not have: refuse rather than compute something else.
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& rs = j["rope_scaling"];
    std::string type = rs.is_object() ? rs.value("rope_type", rs.value("type", std::string("?"))) : rs.dump();
    VR_CHECK(type == "default", "config.json: rope_scaling of type '{}' is not supported (only plain RoPE; "
             "Llama-2/Vicuna/Llama-3-8B use none): {}", type, rs.dump());
  }
  VR_CHECK(c.hidden_act == "silu", "config.json: hidden_act '{}' is not supported (Llama uses \"silu\")",
           c.hidden_act);
  double dropout = 0.0;
  read(j, "attention_dropout", dropout);
  VR_CHECK(dropout == 0.0, "config.json: attention_dropout {} is not supported (only 0)", dropout);

  VR_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers >= 0,
           "config.json: sizes must be positive (vocab {}, hidden {}, intermediate {}, layers {})", c.vocab_size,
           c.hidden_size, c.intermediate_size, c.num_hidden_layers);
  VR_CHECK(c.num_attention_heads > 0 && c.num_key_value_heads > 0 &&
               c.num_attention_heads % c.num_key_value_heads == 0,
           "config.json: num_attention_heads ({}) must be a positive multiple of num_key_value_heads ({})",
           c.num_attention_heads, c.num_key_value_heads);
  VR_CHECK(c.head_dim > 0 || c.hidden_size % c.num_attention_heads == 0,
           "config.json: hidden_size {} is not divisible by num_attention_heads {}", c.hidden_size,
           c.num_attention_heads);
  VR_CHECK(c.resolved_head_dim() % 2 == 0, "config.json: head_dim {} must be even for RoPE", c.resolved_head_dim());
  return c;
}

nlohmann::json LlamaConfig::to_json() const {
  nlohmann::json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"max_position_embeddings", max_position_embeddings},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", tie_word_embeddings},
      {"attention_bias", attention_bias},
      {"attention_dropout", 0.0},
      {"mlp_bias", mlp_bias},
      {"hidden_act", hidden_act},
      {"bos_token_id", bos_token_id},
      {"eos_token_id", eos_token_id},
      {"pretraining_tp", 1},
      {"use_cache", true},
  };
  if (head_dim > 0) j["head_dim"] = head_dim;
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  return j;
}

int64_t LlamaConfig::num_parameters() const {
  const int64_t H = hidden_size, I = intermediate_size, D = resolved_head_dim();
  const int64_t q = num_attention_heads * D, kv = num_key_value_heads * D;
  int64_t attn = H * q + 2 * H * kv + q * H;        // q, k, v, o projections
  if (attention_bias) attn += q + 2 * kv + H;
  int64_t mlp = 3 * H * I;                          // gate, up, down
  if (mlp_bias) mlp += 2 * I + H;
  const int64_t layer = attn + mlp + 2 * H;         // + input/post-attention RMSNorm weights
  const int64_t embed = vocab_size * H;
  return embed + num_hidden_layers * layer + H + (tie_word_embeddings ? 0 : embed);
}

}  // namespace vr::model
