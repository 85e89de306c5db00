#include "vr/model/generate_config.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/core/file_io.h"

namespace vr::model {

namespace {

// An id or a list of ids; null/absent → nullopt.
std::optional<std::vector<int64_t>> read_ids(const nlohmann::json& j, const char* key, const std::string& file) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return std::nullopt;
  const auto& v = j[key];
  std::vector<int64_t> ids;
  if (v.is_number_integer()) {
    ids.push_back(v.get<int64_t>());
  } else {
    VR_CHECK(v.is_array(), "{}: {} must be an integer or a list of integers", file, key);
    for (const auto& x : v) {
      VR_CHECK(x.is_number_integer(), "{}: {} must be an integer or a list of integers", file, key);
      ids.push_back(x.get<int64_t>());
    }
  }
  return ids;
}

// Applies the keys present in one JSON object (later sources only fill what is still unset).
struct Layer {
  const nlohmann::json* j;
  std::string file;
};

}  // namespace

int64_t GenerationSettings::resolved_pad_token_id() const {
  if (pad_token_id) return *pad_token_id;
  return eos_token_ids.empty() ? 0 : eos_token_ids.front();
}

int64_t GenerationSettings::resolved_max_new_tokens(int64_t prompt_length) const {
  if (max_new_tokens) return *max_new_tokens;
  return std::max<int64_t>(max_length - prompt_length, 0);
}

GenerationSettings read_generation_settings(const std::string& model_dir, const std::string& generation_config_file) {
  namespace fs = std::filesystem;
  const std::string config_path = model_dir + "/config.json";
  const nlohmann::json config = read_json_file(config_path);
  std::string gen_path = generation_config_file;
  if (gen_path.empty() && fs::exists(model_dir + "/generation_config.json")) gen_path = model_dir + "/generation_config.json";
  const nlohmann::json gen = gen_path.empty() ? nlohmann::json::object() : read_json_file(gen_path);
  VR_CHECK(gen.is_object(), "{}: expected a JSON object", gen_path);
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& text = config.is_object() && config.contains("text_config") && config["text_config"].is_object()
                                   ? config["text_config"]
                                   : empty;
  // HF: a generation_config.json replaces the model config entirely (GenerationConfig.from_pretrained); without
  // one, GenerationConfig.from_model_config reads config.json, then text_config for values still unset.
  const std::vector<Layer> layers = gen_path.empty()
                                        ? std::vector<Layer>{{&config, config_path}, {&text, config_path + " text_config"}}
                                        : std::vector<Layer>{{&gen, gen_path}};

  GenerationSettings s;
  bool have_eos = false;
  for (const auto& l : layers) {
    if (!have_eos)
      if (auto ids = read_ids(*l.j, "eos_token_id", l.file)) {
        s.eos_token_ids = *ids;
        have_eos = true;
      }
    if (!s.pad_token_id)
      if (auto ids = read_ids(*l.j, "pad_token_id", l.file)) {
        VR_CHECK(ids->size() == 1, "{}: pad_token_id must be one integer", l.file);
        s.pad_token_id = ids->front();
      }
  }
  // Sampling and length settings are generation-config keys only.
  try {
    if (gen.contains("max_new_tokens") && !gen["max_new_tokens"].is_null())
      s.max_new_tokens = gen["max_new_tokens"].get<int64_t>();
    s.max_length = gen.value("max_length", s.max_length);
    s.do_sample = gen.value("do_sample", s.do_sample);
    s.temperature = gen.value("temperature", s.temperature);
    s.top_k = gen.value("top_k", s.top_k);
    s.top_p = gen.value("top_p", s.top_p);
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("{}: {}", gen_path, e.what());
  }
  return s;
}

}  // namespace vr::model
