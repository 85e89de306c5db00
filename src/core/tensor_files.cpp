// Tensor files and weight directories: one loader for safetensors and torch.save files, single or sharded.
#include "vr/core/tensor_files.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/printable.h"
#include "vr/core/safetensors.h"
#include "vr/core/shape_string.h"
#include "vr/core/strings.h"
#include "vr/core/torch_pickle.h"

namespace fs = std::filesystem;

namespace vr {

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// A file name with no directory part, so an index or a caller cannot point outside the checkpoint.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Floating-point tensors are cast to `dtype`; integer and bool tensors (ids, masks, buffers) keep theirs.
void convert(StateDict& sd, std::optional<at::ScalarType> dtype) {
  if (!dtype) return;
  for (auto& [name, t] : sd)
    if (at::isFloatingType(t.scalar_type()) && t.scalar_type() != *dtype) t = t.to(*dtype);
}

constexpr const char* kPickleFile = "pytorch_model.bin";
constexpr const char* kPickleIndexFile = "pytorch_model.bin.index.json";

// shard file → the tensor names an index (model.safetensors.index.json or pytorch_model.bin.index.json)
// assigns to it. A shard must be a plain file name: an index can never make us read outside `dir`.
std::map<std::string, std::set<std::string>> read_shard_index(const std::string& index_path) {
  nlohmann::json index = read_json_file(index_path);
  VR_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
           "{}: expected an object with a \"weight_map\" object", index_path);
  std::map<std::string, std::set<std::string>> shards;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    VR_CHECK(shard.is_string() && is_plain_file_name(shard.get<std::string>()),
             "{}: tensor '{}': shard must be a file name in the same directory, got {}", index_path, printable(name),
             shard.dump(-1, ' ', /*ensure_ascii=*/true));
    shards[shard.get<std::string>()].insert(name);
  }
  return shards;
}

// Every shard of the index, each holding exactly the names the index gives it.
StateDict load_sharded(const std::string& dir, const std::string& index_file, bool pickles) {
  const std::string index_path = (fs::path(dir) / index_file).string();
  StateDict out;
  for (const auto& [shard, names] : read_shard_index(index_path)) {
    const std::string shard_path = (fs::path(dir) / shard).string();
    StateDict part = pickles ? load_torch_pickle(shard_path) : load_safetensors(shard_path);
    for (const auto& name : names)
      VR_CHECK(part.count(name), "{}: tensor '{}' is listed for shard '{}' but that shard lacks it", index_path,
               printable(name), printable(shard));
    for (auto& [name, t] : part) {
      VR_CHECK(names.count(name), "{}: tensor '{}' in shard '{}' is not listed there by the index", index_path,
               printable(name), printable(shard));
      out.emplace(name, std::move(t));
    }
  }
  return out;
}

std::string list_names(const std::vector<std::string>& names, size_t max_names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max_names; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max_names) out += fmt::format(", ... ({} more)", names.size() - max_names);
  return out;
}

uint64_t tensor_bytes(const at::Tensor& t) { return static_cast<uint64_t>(t.numel()) * t.element_size(); }

// Writes the checkpoint files into `dir` (an existing, empty directory).
void write_checkpoint_files(const std::string& dir, const nlohmann::json& config, const StateDict& tensors,
                            uint64_t max_shard_bytes, const std::map<std::string, nlohmann::json>& extra) {
  atomic_write_file((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  for (const auto& [name, j] : extra) {
    VR_CHECK(is_plain_file_name(name) && name != "config.json" && name != kIndexFile &&
                 name.find(".safetensors") == std::string::npos,
             "save_checkpoint: extra file name '{}' must be a plain name not clashing with checkpoint files", name);
    atomic_write_file((fs::path(dir) / name).string(), j.dump(2) + "\n");
  }

  // Greedy sharding in sorted-name order, like HF: start a new shard when the next tensor would overflow
  // the current one; a tensor larger than the limit gets a shard of its own.
  std::vector<StateDict> shards(1);
  uint64_t current = 0, total = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = tensor_bytes(t);
    if (current > 0 && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().emplace(name, t);
    current += bytes;
    total += bytes;
  }
  if (shards.size() == 1) {
    save_safetensors((fs::path(dir) / kSingleFile).string(), tensors);
    return;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, shards.size());
    save_safetensors((fs::path(dir) / file).string(), shards[k]);
    for (const auto& [name, t] : shards[k]) weight_map[name] = file;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  atomic_write_file((fs::path(dir) / kIndexFile).string(), index.dump(2) + "\n");
}

}  // namespace

nlohmann::json load_config_json(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  VR_CHECK(fs::is_regular_file(path), "{}: missing (is '{}' a Hugging Face checkpoint directory?)", path, dir);
  nlohmann::json j = read_json_file(path);
  VR_CHECK(j.is_object(), "{}: expected a JSON object", path);
  return j;
}

StateDict load_tensors(const std::string& dir_or_file, std::optional<at::ScalarType> dtype) {
  StateDict sd;
  const fs::path p(dir_or_file);
  if (fs::is_regular_file(p)) {
    sd = ends_with(dir_or_file, ".safetensors") ? load_safetensors(dir_or_file) : load_torch_pickle(dir_or_file);
  } else if (fs::is_directory(p)) {
    if (fs::exists(p / kIndexFile)) {
      sd = load_sharded(dir_or_file, kIndexFile, /*pickles=*/false);
    } else if (fs::exists(p / kSingleFile)) {
      sd = load_safetensors((p / kSingleFile).string());
    } else if (fs::exists(p / kPickleIndexFile)) {
      sd = load_sharded(dir_or_file, kPickleIndexFile, /*pickles=*/true);
    } else if (fs::exists(p / kPickleFile)) {
      sd = load_torch_pickle((p / kPickleFile).string());
    } else {
      VR_FAIL("{}: no weights found (expected {}, {}, {} or {})", dir_or_file, kSingleFile, kIndexFile, kPickleFile,
              kPickleIndexFile);
    }
  } else {
    VR_FAIL("{}: no such checkpoint file or directory", dir_or_file);
  }
  convert(sd, dtype);
  return sd;
}

KeyReport match_keys(const StateDict& checkpoint, const StateDict& expected) {
  KeyReport r;
  for (const auto& [name, t] : expected) {
    auto it = checkpoint.find(name);
    if (it == checkpoint.end())
      r.missing.push_back(name);
    else if (it->second.sizes() != t.sizes())
      r.mismatched.push_back(
          fmt::format("{}: checkpoint {} vs model {}", name, vr::shape_string(it->second.sizes()), vr::shape_string(t.sizes())));
  }
  for (const auto& [name, t] : checkpoint)
    if (!expected.count(name)) r.unexpected.push_back(name);
  return r;
}

std::string KeyReport::describe(size_t max_names) const {
  if (missing.empty() && unexpected.empty() && mismatched.empty()) return "all keys match";
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back(fmt::format("{} missing: {}", missing.size(), list_names(missing, max_names)));
  if (!mismatched.empty())
    parts.push_back(
        fmt::format("{} with mismatched shapes: {}", mismatched.size(), list_names(mismatched, max_names)));
  if (!unexpected.empty())
    parts.push_back(fmt::format("{} unexpected: {}", unexpected.size(), list_names(unexpected, max_names)));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

void save_checkpoint(const std::string& dir, const nlohmann::json& config, const StateDict& tensors,
                     uint64_t max_shard_bytes, const std::map<std::string, nlohmann::json>& extra_json_files) {
  VR_CHECK(max_shard_bytes > 0, "save_checkpoint {}: max_shard_bytes must be positive", dir);
  write_directory_atomically(dir, [&](const std::string& tmp) {
    write_checkpoint_files(tmp, config, tensors, max_shard_bytes, extra_json_files);
  });
}

at::Tensor require_tensor(const StateDict& tensors, const std::string& name, const std::string& file) {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::string have;
  for (const auto& kv : tensors) have += (have.empty() ? "" : ", ") + kv.first;
  VR_FAIL("inputs file '{}' has no tensor '{}' (it has: {})", file, name, have.empty() ? "nothing" : have);
}

at::Tensor optional_tensor(const StateDict& tensors, const std::string& name) {
  auto it = tensors.find(name);
  return it == tensors.end() ? at::Tensor() : it->second;
}

}  // namespace vr
