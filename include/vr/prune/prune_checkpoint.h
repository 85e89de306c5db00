// Writing a checkpoint without some decoder layers, as Hugging Face itself would save the pruned model
// (shared/fixtures/pruning/README): tensors of old layer kept[j] renamed to layer j, byte-identical values;
// num_hidden_layers = len(kept) in the decoder's config (text_config for LLaVA), every other config byte unchanged;
// generation_config.json, tokenizer and preprocessor files copied byte for byte; pruning.json describing the cut.
// Layouts: llava-hf and HF Llama are rewritten file by file (sharded safetensors stay sharded, shard by shard;
// torch.save weights become model.safetensors); an original LLaVA/Bunny directory is converted to llava-hf
// (transformers cannot load the original layout).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/prune/layer_choice.h"

namespace vr::prune {

// Decoder layers of the LLM in `dir`, read from config.json (HF default 32 when the key is absent).
int64_t checkpoint_num_layers(const std::string& dir);

struct PruneReport {
  std::string layout;                     // layout of the source: llava-hf | llava | llama
  int64_t parameters_before = 0, parameters_after = 0;  // elements of all stored tensors
  std::vector<std::string> weight_files;  // written
  std::vector<std::string> copied_files;  // copied byte for byte
  std::vector<std::string> skipped;       // entries of the source not carried over (sub-directories)
  nlohmann::json pruning_json;            // what OUT/pruning.json holds
};

// Writes `dst` atomically (a complete new directory or, after a failure, the old one untouched). `dst` must not be
// `src`. `extra` is merged into pruning.json (e.g. the command line).
PruneReport write_pruned_checkpoint(const std::string& src, const std::string& dst, const LayerChoice& choice,
                                    const nlohmann::json& extra = nlohmann::json::object());

}  // namespace vr::prune
