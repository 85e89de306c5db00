#include "vr/model/model_configs.h"

#include "vr/core/error.h"

namespace vr::model {

static VisionConfig clip_vit_l14(int64_t image_size) {
  VisionConfig v = vision_shape(VisionConfig::clip_defaults(), 1024, 4096, 24, 16, image_size, 14);
  v.projection_dim = 768;
  return v;
}

static VisionConfig siglip_so400m_384() {
  return vision_shape(VisionConfig::siglip_defaults(), 1152, 4304, 27, 16, 384, 14);
}

std::optional<VisionConfig> find_named_vision_config(const std::string& name) {
  auto base = name.substr(name.find_last_of('/') == std::string::npos ? 0 : name.find_last_of('/') + 1);
  if (base == "clip-vit-large-patch14-336") return clip_vit_l14(336);
  if (base == "clip-vit-large-patch14") return clip_vit_l14(224);
  if (base == "siglip-so400m-patch14-384") return siglip_so400m_384();
  return std::nullopt;
}

// Vicuna v1.5 (Llama-2 architecture), SPEC §1.1.
static LlamaConfig vicuna(int64_t hidden, int64_t inter, int64_t layers, int64_t heads) {
  LlamaConfig t = llama_shape(32000, hidden, inter, layers, heads, heads);  // MHA, context 4096, rope 1e4
  t.rms_norm_eps = 1e-5;
  return t;
}

static LvlmConfig llava_hf(LlamaConfig text) {
  LvlmConfig c;
  text.vocab_size = 32064;  // llava-hf adds <image> (32000) and <pad> (32001), padded to a multiple of 64
  text.pad_token_id = 32001;
  c.text = text;
  c.vision = clip_vit_l14(336);
  c.vision_tower_name = "openai/clip-vit-large-patch14-336";
  c.projector_type = "mlp2x_gelu";
  c.image_token_index = 32000;
  c.pad_token_id = 32001;
  return c;
}

std::vector<std::string> named_lvlm_config_names() { return {"llava-1.5-7b", "llava-1.5-13b", "bunny-llama-3-8b-v"}; }

LvlmConfig named_lvlm_config(const std::string& name) {
  if (name == "llava-1.5-7b") return llava_hf(vicuna(4096, 11008, 32, 32));
  if (name == "llava-1.5-13b") return llava_hf(vicuna(5120, 13824, 40, 40));
  if (name == "bunny-llama-3-8b-v") {
    LvlmConfig c;
    LlamaConfig t = llama_shape(128256, 4096, 14336, 32, 32, 8);  // Llama-3-8B-Instruct with Bunny's eos (SPEC §1.1)
    t.max_position_embeddings = 8192;
    t.rms_norm_eps = 1e-5;
    t.rope_theta = 500000.0;
    t.bos_token_id = 128000;
    t.eos_token_id = 128001;
    c.text = t;
    c.vision = siglip_so400m_384();
    c.vision_tower_name = "google/siglip-so400m-patch14-384";
    c.image_token_index = kLlavaImageTokenIndex;
    c.pad_token_id = 128001;
    c.model_max_length = 2048;
    return c;
  }
  std::string known;
  for (const auto& n : named_lvlm_config_names()) known += (known.empty() ? "" : ", ") + n;
  VR_FAIL("unknown model config '{}' (known: {})", name, known);
}

}  // namespace vr::model
