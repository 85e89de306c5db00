// `vrtrain generate` pieces shared by both modes (dtype, threads, sampling flags) and people's mode: a prompt
// (or a JSON-lines batch) through the conversation template, tokenizer and image preprocessor, decoded answers
// streamed to stdout.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/core/ScalarType.h>

#include "vr/model/generate.h"
#include "vr/model/generate_config.h"

namespace vr::cli {

struct SharedGenerateFlags {
  std::string dtype_name = "fp32";
  int threads = 0;  // 0 = LibTorch's choice
  bool do_sample = false;
  std::optional<double> temperature, top_p;
  std::optional<int64_t> top_k;
  uint64_t seed = 0;

  void add(CLI::App& app);
  void apply_threads() const;
  at::ScalarType dtype() const;
  // Greedy unless --do-sample, --temperature (> 0), --top-p or --top-k is given; unset sampling values come from
  // the checkpoint's generation_config.json (HF defaults: temperature 1, top_k 50, top_p 1). The checkpoint's own
  // do_sample is not followed: vrtrain is greedy unless asked.
  vr::model::GenerateOptions options(const vr::model::GenerationSettings& s) const;
};

struct ChatOptions {
  std::string prompt, batch_file, template_name, tokenizer, processor, system, aspect = "pad";
  std::vector<std::string> images, stops;
  bool no_stream = false;

  void add(CLI::App& app);
  bool active() const { return !prompt.empty() || !batch_file.empty() || !images.empty(); }
};

// Settings of the common flags that people's mode resolves its own way.
struct ChatRun {
  std::string model_dir, generation_config;
  std::optional<int64_t> max_new_tokens, pad_token_id;
  std::vector<int64_t> eos_token_ids;
  bool no_eos = false;
};

int run_chat(const ChatOptions& chat, const ChatRun& run, const SharedGenerateFlags& shared);

}  // namespace vr::cli
