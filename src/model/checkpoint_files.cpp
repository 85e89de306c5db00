#include "vr/model/checkpoint_files.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/strings.h"

namespace fs = std::filesystem;

namespace vr::model {

static std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VR_CHECK(in, "{}: cannot open file", path);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

StateDict load_torch_pickle(const std::string& path) {
  auto bytes = read_bytes(path);
  // Zip local-file signature "PK\3\4". The pre-1.6 torch.save format (raw pickle stream) is not supported.
  VR_CHECK(bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4,
           "{}: not a torch.save zip archive (legacy pre-1.6 torch.save files and raw pickles are not supported; "
           "re-save with torch.save or convert to safetensors)",
           path);
  c10::IValue value;
  try {
    value = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    VR_FAIL("{}: cannot unpickle ({}); only dicts of plain tensors are accepted — an OrderedDict state dict or "
            "any Python object needs converting to safetensors first",
            path, msg.substr(0, msg.find('\n')));
  }
  VR_CHECK(value.isGenericDict(), "{}: expected a dict of tensors, the pickle holds a {}", path, value.tagKind());
  StateDict out;
  for (const auto& kv : value.toGenericDict()) {
    VR_CHECK(kv.key().isString(), "{}: dict key of type {} (expected str)", path, kv.key().tagKind());
    const auto& name = kv.key().toStringRef();
    VR_CHECK(kv.value().isTensor(), "{}: entry '{}' is a {}, not a tensor", path, name, kv.value().tagKind());
    auto t = kv.value().toTensor();
    VR_CHECK(!t.is_sparse() && !t.is_quantized(), "{}: tensor '{}' is sparse or quantized (unsupported)", path, name);
    out[name] = t.detach();
  }
  return out;
}

void save_torch_pickle(const std::string& path, const StateDict& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous());
  auto bytes = torch::jit::pickle_save(c10::IValue(dict));
  atomic_write_file(path, std::string(bytes.begin(), bytes.end()));
}

static StateDict convert(StateDict sd, std::optional<at::ScalarType> dtype) {
  if (dtype)
    for (auto& [name, t] : sd)
      if (t.is_floating_point()) t = t.to(*dtype);
  return sd;
}

StateDict load_checkpoint_tensors(const std::string& path, std::optional<at::ScalarType> dtype) {
  VR_CHECK(fs::exists(path), "{}: no such file or directory", path);
  if (!fs::is_directory(path)) {
    if (ends_with(path, ".safetensors")) return load_state_dict(path, dtype);
    return convert(load_torch_pickle(path), dtype);
  }
  bool has_safetensors = false;
  for (const auto& e : fs::directory_iterator(path))
    if (ends_with(e.path().filename().string(), ".safetensors") &&
        e.path().filename().string().rfind("adapter_", 0) != 0)
      has_safetensors = true;
  if (has_safetensors) return load_state_dict(path, dtype);
  const auto dir = fs::path(path);
  if (fs::exists(dir / "pytorch_model.bin")) return convert(load_torch_pickle((dir / "pytorch_model.bin").string()), dtype);
  const auto index = dir / "pytorch_model.bin.index.json";
  VR_CHECK(fs::exists(index), "{}: no model*.safetensors, pytorch_model.bin or pytorch_model.bin.index.json", path);
  nlohmann::json j;
  try {
    std::ifstream in(index);
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    VR_FAIL("{}: invalid JSON ({})", index.string(), e.what());
  }
  VR_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), "{}: no 'weight_map' object", index.string());
  std::set<std::string> shards;
  for (const auto& [name, file] : j["weight_map"].items()) shards.insert(file.get<std::string>());
  StateDict out;
  for (const auto& shard : shards)
    for (auto& [name, t] : load_torch_pickle((dir / shard).string())) out[name] = t;
  return convert(std::move(out), dtype);
}

}  // namespace vr::model
