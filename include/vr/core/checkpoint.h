// Hugging Face checkpoint directories: config.json + model.safetensors, or sharded
// model-0000k-of-0000n.safetensors with model.safetensors.index.json.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace vr {

using StateDict = std::map<std::string, at::Tensor>;

// Reads <dir>/config.json (throws naming the file on missing/invalid JSON).
nlohmann::json load_config_json(const std::string& dir);

// All tensors of a checkpoint directory (single or sharded) or of one .safetensors file.
// With `dtype`, floating-point tensors are converted to it; integer and bool tensors keep their type.
// Sharded: every shard named by the index is read; a tensor listed but absent, or present but not listed
// for that shard, is an error. Unconverted tensors are zero-copy views on the memory-mapped files.
StateDict load_state_dict(const std::string& dir_or_file, std::optional<at::ScalarType> dtype = std::nullopt);

// Result of matching a loaded state dict against a model's expected names.
struct KeyReport {
  std::vector<std::string> missing;     // expected but absent
  std::vector<std::string> unexpected;  // present but not expected
  std::vector<std::string> mismatched;  // "name: checkpoint [a, b] vs model [c, d]"
  bool ok() const { return missing.empty() && mismatched.empty(); }
  std::string describe(size_t max_names = 10) const;  // human-readable summary
};

// Compares checkpoint names and shapes with the model's expected tensors.
KeyReport match_keys(const StateDict& checkpoint, const StateDict& expected);

// Writes config.json (+ extra JSON files) and the tensors, sharded above max_shard_bytes with an index,
// atomically: everything goes to <dir>.tmp-XXXX first, then replaces <dir>.
void save_checkpoint(const std::string& dir, const nlohmann::json& config, const StateDict& tensors,
                     uint64_t max_shard_bytes = 5ull << 30,
                     const std::map<std::string, nlohmann::json>& extra_json_files = {});

// Writes bytes to path via path.tmp + fsync + rename.
void atomic_write_file(const std::string& path, const std::string& bytes);

}  // namespace vr
