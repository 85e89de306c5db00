#include "vr/model/layouts.h"

#include <filesystem>

#include <nlohmann/json.hpp>
#include <cstdio>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/torch_pickle.h"
#include "vr/model/lora.h"
#include "vr/model/model_configs.h"
#include "vr/model/module_state.h"
#include "vr/model/param_init.h"
#include "vr/text/tokenizer.h"
#include "vr/core/strings.h"

namespace fs = std::filesystem;

namespace vr::model {

namespace {

// Keys a checkpoint may carry that the model deliberately does not hold.
bool ignorable_key(const std::string& name) {
  if (is_buffer_checkpoint_key(name)) return true;
  if (starts_with(name, "vision_tower.")) return is_unused_vision_checkpoint_key(after(name, "vision_tower."));
  return false;
}

std::string dtype_json_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kDouble: return "float64";
    default: return "float32";
  }
}

at::ScalarType model_dtype(Lvlm& m) {
  auto params = m->language_model->parameters();
  return params.empty() ? at::kFloat : params.front().scalar_type();
}

}  // namespace

// ---- layout detection and configs ------------------------------------------------------------------------

const char* layout_name(LvlmLayout l) {
  switch (l) {
    case LvlmLayout::kLlavaHf: return "llava-hf";
    case LvlmLayout::kLlava: return "llava";
    case LvlmLayout::kLlamaOnly: return "llama";
  }
  return "?";
}

static bool has_mm_fields(const nlohmann::json& j) {
  return j.contains("mm_hidden_size") || j.contains("mm_vision_tower") || j.contains("mm_projector_type");
}

LvlmLayout detect_layout(const std::string& dir) {
  auto j = load_config_json(dir);
  const std::string type = j.value("model_type", "");
  if (has_mm_fields(j)) return LvlmLayout::kLlava;
  if (type == "llava") return LvlmLayout::kLlavaHf;
  if (type == "llama") return LvlmLayout::kLlamaOnly;
  VR_FAIL("{}: config.json model_type '{}' is not a supported vision-language layout (llava-hf 'llava', "
          "LLaVA/Bunny with mm_* fields, or an HF 'llama' directory together with a vision encoder)",
          dir, type);
}

// A local directory for the vision tower: explicit option, else mm_vision_tower if it names one (absolute or
// relative to the checkpoint).
static std::string local_vision_dir(const std::string& option, const std::string& tower_name, const std::string& dir) {
  if (!option.empty()) return option;
  if (tower_name.empty()) return "";
  for (const auto& p : {fs::path(tower_name), fs::path(dir) / tower_name})
    if (fs::exists(p / "config.json")) return p.string();
  return "";
}

static LlamaConfig llama_from_llava_json(nlohmann::json j) {
  j["model_type"] = "llama";
  return LlamaConfig::from_json(j);
}

static LvlmConfig llava_config(const nlohmann::json& j, const std::string& dir, const std::string& vision_dir) {
  LvlmConfig c;
  c.text = llama_from_llava_json(j);
  c.vision_tower_name = j.value("mm_vision_tower", std::string());
  if (!vision_dir.empty()) {
    c.vision = VisionConfig::from_json(load_config_json(vision_dir));
  } else if (j.contains("vision_config")) {  // written by vrtrain's save_lvlm_llava
    c.vision = VisionConfig::from_json(j["vision_config"]);
  } else if (auto named = find_named_vision_config(c.vision_tower_name)) {
    c.vision = *named;
  } else {
    VR_FAIL("{}: cannot tell the vision tower's configuration: mm_vision_tower '{}' is neither a local directory "
            "nor a known tower; pass the vision encoder directory (--vision)",
            dir, c.vision_tower_name);
  }
  c.projector_type = j.value("mm_projector_type", std::string("linear"));  // LLaVA's default when absent
  c.vision_feature_layer = j.value("mm_vision_select_layer", int64_t{-2});
  c.vision_feature_select = j.value("mm_vision_select_feature", std::string("patch"));
  c.image_token_index = j.value("image_token_index", kLlavaImageTokenIndex);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer()) c.pad_token_id = j["pad_token_id"].get<int64_t>();
  c.model_max_length = j.value("tokenizer_model_max_length", int64_t{0});
  const auto mm_hidden = j.value("mm_hidden_size", c.vision.hidden_size);
  VR_CHECK(mm_hidden == c.vision.hidden_size, "{}: mm_hidden_size {} does not match the vision tower's hidden_size {}",
           dir, mm_hidden, c.vision.hidden_size);
  VR_CHECK(j.value("mm_patch_merge_type", std::string("flat")) == "flat",
           "{}: mm_patch_merge_type '{}' is not supported (flat)", dir, j.value("mm_patch_merge_type", std::string()));
  VR_CHECK(!j.value("mm_use_im_start_end", false), "{}: mm_use_im_start_end is not supported", dir);
  return c;
}

// ---- loading -----------------------------------------------------------------------------------------------

StateDict read_projector_file(const std::string& path) {
  StateDict out;
  for (auto& [name, t] : load_tensors(path)) {
    std::string hf;
    if (auto pos = name.find("mm_projector."); pos != std::string::npos) {
      hf = projector_suffix_to_hf(name.substr(pos + std::string("mm_projector.").size()));
    } else if (auto p2 = name.find("multi_modal_projector."); p2 != std::string::npos) {
      hf = name.substr(p2);
    }
    if (hf.empty()) continue;
    out[after(hf, "multi_modal_projector.")] = t;
  }
  VR_CHECK(!out.empty(), "{}: no mm_projector.* or multi_modal_projector.* tensors", path);
  return out;
}

static void put_vision_weights(StateDict& state, const std::string& vision_dir) {
  for (auto& [name, t] : load_tensors(vision_dir))
    if (!is_unused_vision_checkpoint_key(name)) state["vision_tower." + name] = t;
}

static bool has_prefix(const StateDict& s, const std::string& prefix) {
  auto it = s.lower_bound(prefix);
  return it != s.end() && starts_with(it->first, prefix);
}

// The model with parameters created directly in `dtype` and then moved to `device`, so that load_module_state
// copies each checkpoint tensor straight into place: an 8B model loaded for bf16 training never exists as a
// 34 GB fp32 copy (8.4e9 x 4 bytes), and for a GPU the host holds the bf16 model only until the move. LibTorch's
// modules allocate and initialise in the default dtype, which is process-wide: it is switched only for the
// construction (load_lvlm runs before any data-loader thread starts). Nothing is randomly initialised: every
// weight is loaded next (vr/model/param_init.h).
static Lvlm construct_lvlm(const LvlmConfig& c, std::optional<at::ScalarType> dtype, std::optional<c10::Device> device) {
  const caffe2::TypeMeta previous = c10::get_default_dtype();
  Lvlm model(nullptr);
  if (dtype) c10::set_default_dtype(c10::scalarTypeToTypeMeta(*dtype));
  try {
    DeferredInitGuard deferred;
    model = Lvlm(c);
  } catch (...) {
    c10::set_default_dtype(previous);
    throw;
  }
  c10::set_default_dtype(previous);
  if (device) model->to(*device);
  return model;
}

Lvlm load_lvlm(const LvlmLoadOptions& o) {
  try {
    const auto layout = detect_layout(o.path);
    const auto j = load_config_json(o.path);
    LvlmConfig config;
    StateDict state;  // llava-hf names
    if (layout == LvlmLayout::kLlavaHf) {
      config = LvlmConfig::from_json(j);
      for (auto& [name, t] : load_tensors(o.path)) state[new_hf_to_hf_name(name)] = t;
      if (!o.vision.empty()) {
        for (auto it = state.begin(); it != state.end();) it = starts_with(it->first, "vision_tower.") ? state.erase(it) : std::next(it);
        put_vision_weights(state, o.vision);
      }
    } else if (layout == LvlmLayout::kLlava) {
      const auto vision_dir = local_vision_dir(o.vision, j.value("mm_vision_tower", std::string()), o.path);
      config = llava_config(j, o.path, vision_dir);
      for (auto& [name, t] : load_tensors(o.path))
        if (auto hf = llava_to_hf_name(name); !hf.empty()) state[hf] = t;
      if (!o.vision.empty() || !has_prefix(state, "vision_tower.")) {
        VR_CHECK(!vision_dir.empty(),
                 "{}: the checkpoint holds no vision tower weights and mm_vision_tower '{}' is not a local directory; "
                 "pass the vision encoder directory (--vision)",
                 o.path, config.vision_tower_name);
        for (auto it = state.begin(); it != state.end();) it = starts_with(it->first, "vision_tower.") ? state.erase(it) : std::next(it);
        put_vision_weights(state, vision_dir);
      }
    } else {  // Llama directory + vision encoder (+ projector)
      VR_CHECK(!o.vision.empty(), "{}: an HF Llama directory needs a vision encoder directory (--vision)", o.path);
      config.text = LlamaConfig::from_json(j);
      config.vision = VisionConfig::from_json(load_config_json(o.vision));
      config.projector_type = o.projector_type;
      config.vision_feature_layer = o.select_layer;
      config.vision_feature_select = o.select_feature;
      config.image_token_index = kLlavaImageTokenIndex;
      config.pad_token_id = config.text.pad_token_id;
      config.vision_tower_name = o.vision;
      for (auto& [name, t] : load_tensors(o.path))
        if (auto hf = llava_to_hf_name(name); !hf.empty()) state[hf] = t;
      put_vision_weights(state, o.vision);
    }

    Lvlm model = construct_lvlm(config, o.dtype, o.device);
    if (!o.projector.empty()) {
      for (auto it = state.begin(); it != state.end();)
        it = starts_with(it->first, "multi_modal_projector.") ? state.erase(it) : std::next(it);
      for (auto& [name, t] : read_projector_file(o.projector)) state["multi_modal_projector." + name] = t;
    } else if (layout == LvlmLayout::kLlamaOnly) {
      // Stage-1 start: a freshly initialised projector (torch Linear default init, as LLaVA); construct_lvlm left
      // it unset.
      for (auto* layer : {&model->multi_modal_projector->linear_1, &model->multi_modal_projector->linear_2})
        if (*layer) (*layer)->reset_parameters();
      for (auto& kv : model->multi_modal_projector->named_parameters())
        state["multi_modal_projector." + kv.key()] = kv.value().detach().clone();
    }
    // Tied embeddings: lm_head reads embed_tokens (not a parameter of its own); HF ignores a stored copy too.
    if (config.text.tie_word_embeddings) state.erase("language_model.lm_head.weight");

    auto report = load_module_state(*model, state, o.path, o.dtype, ignorable_key);
    if (!report.unexpected.empty())
      fmt::print(stderr, "warning: {}: ignoring tensors the model does not use: {}\n", o.path, report.describe());
    model->vision_tower->set_trainable(false);
    return model;
  } catch (const Error&) {
    rethrow_with_context("loading vision-language model '" + o.path + "'");
  }
}

Lvlm load_lvlm(const std::string& path, std::optional<at::ScalarType> dtype, std::optional<c10::Device> device) {
  LvlmLoadOptions o;
  o.path = path;
  o.dtype = dtype;
  o.device = device;
  return load_lvlm(o);
}

// ---- saving --------------------------------------------------------------------------------------------------

// The base tensors only: a LoRA adapter must be merged first (its A/B are then dropped, as transformers would
// report them as unexpected keys); exporting an unmerged adapter this way would silently lose its delta.
static StateDict hf_state(Lvlm& model) {
  auto state = module_state_dict(*model);
  for (const auto& kv : model->named_modules())
    if (auto* a = kv.value()->as<LoraAdapterImpl>())
      VR_CHECK(a->merged, "save: the LoRA adapter of '{}' is not merged (merge_lora first, or save the adapter)",
               kv.key());
  for (const auto& [name, t] : lora_state_dict(*model)) state.erase(name);
  if (model->config().text.tie_word_embeddings) state.erase("language_model.lm_head.weight");
  return state;
}

static nlohmann::json generation_config(const LlamaConfig& t) {
  nlohmann::json g = {{"bos_token_id", t.bos_token_id}, {"eos_token_id", t.eos_token_id}};
  if (t.pad_token_id) g["pad_token_id"] = *t.pad_token_id;
  return g;
}

int64_t hf_image_token_index(const LvlmConfig& c, const std::string& tokenizer_dir) {
  const int64_t V = c.text.vocab_size;
  if (c.image_token_index >= 0 && c.image_token_index < V) return c.image_token_index;
  const auto added = tokenizer_dir.empty() ? std::vector<std::pair<int64_t, std::string>>{} : text::read_added_tokens(tokenizer_dir);
  for (const auto& [id, content] : added)
    if (content == "<image>" && id >= 0 && id < V) return id;
  int64_t reserved = -1;
  for (const auto& [id, content] : added)
    if (starts_with(content, "<|reserved_special_token_") && id >= 0 && id < V) reserved = std::max(reserved, id);
  if (reserved >= 0) return reserved;
  VR_FAIL("config.json needs a vocabulary id for the image token (the model uses the placeholder {}, which "
          "transformers cannot embed), but the tokenizer in '{}' has neither an '<image>' token nor a reserved "
          "special token below the vocabulary size {}; add '<image>' to the tokenizer and resize the embeddings "
          "(as llava-hf's conversion does), or save the original layout (--layout llava)",
          c.image_token_index, tokenizer_dir.empty() ? std::string("(none given)") : tokenizer_dir, V);
}

void save_lvlm(Lvlm& model, const std::string& dir, const std::string& tokenizer_dir) {
  auto config = model->config().to_json();
  config["image_token_index"] = hf_image_token_index(model->config(), tokenizer_dir);
  config["torch_dtype"] = dtype_json_name(model_dtype(model));
  save_checkpoint(dir, config, hf_state(model), 5ull << 30,
                  {{"generation_config.json", generation_config(model->config().text)}});
}

void save_lvlm_llava(Lvlm& model, const std::string& dir) {
  const auto& c = model->config();
  auto j = c.text.to_json();
  const bool clip = c.vision.is_clip();
  j["model_type"] = clip ? "llava_llama" : "bunny-llama";
  j["architectures"] = {clip ? "LlavaLlamaForCausalLM" : "BunnyLlamaForCausalLM"};
  j["torch_dtype"] = dtype_json_name(model_dtype(model));
  j["mm_vision_tower"] = c.vision_tower_name;
  j["mm_hidden_size"] = c.vision.hidden_size;
  j["mm_projector_type"] = c.projector_type;
  j["mm_vision_select_layer"] = c.vision_feature_layer;
  j["mm_vision_select_feature"] = c.vision_feature_select;
  j["mm_patch_merge_type"] = "flat";
  j["mm_use_im_start_end"] = false;
  j["mm_use_im_patch_token"] = false;
  j["use_mm_proj"] = true;
  j["image_aspect_ratio"] = "pad";
  j["tokenizer_padding_side"] = "right";
  if (c.model_max_length > 0) j["tokenizer_model_max_length"] = c.model_max_length;
  if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
  // vrtrain key, only for a real vocabulary id (llava-hf origin); LLaVA/Bunny code assumes -200, the default.
  if (c.image_token_index >= 0 && c.image_token_index < c.text.vocab_size) j["image_token_index"] = c.image_token_index;
  j["vision_config"] = c.vision.to_json();       // vrtrain key: makes the directory self-contained
  StateDict state;
  for (auto& [name, t] : hf_state(model)) state[hf_to_llava_name(name, c.projector_type == "linear")] = t;
  save_checkpoint(dir, j, state, 5ull << 30, {{"generation_config.json", generation_config(c.text)}});
}

void save_projector_bin(Lvlm& model, const std::string& path) {
  StateDict state;
  const bool linear = model->config().projector_type == "linear";
  for (auto& kv : model->multi_modal_projector->named_parameters())
    state[hf_to_llava_name("multi_modal_projector." + kv.key(), linear)] = kv.value().detach();
  VR_CHECK(!state.empty(), "save_projector_bin: the '{}' projector has no weights", model->config().projector_type);
  save_torch_pickle(path, state);
}

}  // namespace vr::model
