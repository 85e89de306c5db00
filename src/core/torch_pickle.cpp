#include "vr/core/torch_pickle.h"


#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/printable.h"

namespace vr {

StateDict load_torch_pickle(const std::string& path) {
  const std::string file = read_file(path);
  const std::vector<char> bytes(file.begin(), file.end());
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
            path, printable(msg.substr(0, msg.find('\n'))));  // may quote bytes of the file
  }
  VR_CHECK(value.isGenericDict(), "{}: expected a dict of tensors, the pickle holds a {}", path, value.tagKind());
  StateDict out;
  for (const auto& kv : value.toGenericDict()) {
    VR_CHECK(kv.key().isString(), "{}: dict key of type {} (expected str)", path, kv.key().tagKind());
    const auto& name = kv.key().toStringRef();
    VR_CHECK(kv.value().isTensor(), "{}: entry '{}' is a {}, not a tensor", path, printable(name),
             kv.value().tagKind());
    auto t = kv.value().toTensor();
    VR_CHECK(!t.is_sparse() && !t.is_quantized(), "{}: tensor '{}' is sparse or quantized (unsupported)", path,
             printable(name));
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

}  // namespace vr
