// Tensor files and the Hugging Face weight directories made of them: the one layer every loader reads through.
//   safetensors  model.safetensors, or model-0000k-of-0000n.safetensors + model.safetensors.index.json
//   torch.save   pytorch_model.bin, or pytorch_model-0000k-of-0000n.bin + pytorch_model.bin.index.json, and
//                single .bin/.pt/.pth files such as LLaVA's mm_projector.bin (read by torch_pickle.h)
// Loading never follows an index outside its directory. Saving writes safetensors, atomically.
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

// All tensors of a weight directory or of one tensor file (.safetensors, or a torch.save .bin/.pt/.pth).
// A directory is read as, in this order: model.safetensors.index.json (sharded), model.safetensors,
// pytorch_model.bin.index.json (sharded), pytorch_model.bin.
// With `dtype`, floating-point tensors are converted to it; integer and bool tensors keep their type.
// Sharded: every shard named by the index is read (a shard name must be a plain file name in the same
// directory); a tensor listed but absent, or present but not listed for that shard, is an error.
// Unconverted safetensors tensors are zero-copy views on the memory-mapped files.
StateDict load_tensors(const std::string& dir_or_file, std::optional<at::ScalarType> dtype = std::nullopt);

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

// A named tensor of an inputs file (`vrtrain forward` / `generate` read their inputs as safetensors): vr::Error
// "inputs file 'F' has no tensor 'N' (it has: a, b)" when absent.
at::Tensor require_tensor(const StateDict& tensors, const std::string& name, const std::string& file);
// The named tensor, or an undefined one when absent.
at::Tensor optional_tensor(const StateDict& tensors, const std::string& name);

// Writes config.json (+ extra JSON files) and the tensors, sharded above max_shard_bytes with an index,
// atomically (write_directory_atomically in file_io.h).
void save_checkpoint(const std::string& dir, const nlohmann::json& config, const StateDict& tensors,
                     uint64_t max_shard_bytes = 5ull << 30,
                     const std::map<std::string, nlohmann::json>& extra_json_files = {});

}  // namespace vr
