// A checkpoint's generation settings, read the way Hugging Face generate() resolves them:
//   generation_config.json when present (alone: HF does not look at config.json then), else config.json top level,
//   then its text_config (LLaVA's decoder; HF copies a text_config value when the top-level one is unset); then HF
//   GenerationConfig defaults.
// eos_token_id may be one id or a list (Llama-3: [128001, 128009]). Without a pad id HF pads finished rows with
// the first eos id.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vr::model {

struct GenerationSettings {
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> max_new_tokens;
  int64_t max_length = 20;  // HF default: prompt + new ids (used only when max_new_tokens is unset)
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;

  // pad_token_id, else the first eos id, else 0 (then unused: no row ever finishes early).
  int64_t resolved_pad_token_id() const;
  // max_new_tokens, else max_length - prompt_length (at least 0).
  int64_t resolved_max_new_tokens(int64_t prompt_length) const;
};

// `model_dir`: the checkpoint (config.json required); `generation_config_file`: another generation_config.json
// to use instead of <model_dir>/generation_config.json ("" = none).
GenerationSettings read_generation_settings(const std::string& model_dir, const std::string& generation_config_file = "");

}  // namespace vr::model
