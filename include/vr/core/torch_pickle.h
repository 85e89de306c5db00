// torch.save pickles (*.bin: LLaVA's mm_projector.bin, pytorch_model.bin shards), read and written without
// Python. Directories and shards of them are loaded through load_tensors (tensor_files.h).
//
// A torch.save file (PyTorch >= 1.6) is a zip archive: <archive>/data.pkl (pickle protocol 2 of the object,
// tensors as persistent ids ('storage', torch.<Type>Storage, key, location, numel) rebuilt by
// torch._utils._rebuild_tensor_v2) and one raw little-endian record <archive>/data/<key> per storage.
// We read it with LibTorch's own unpickler (torch::jit::pickle_load), which only knows torch's tensor and
// container types, so no arbitrary Python code can run; anything but a dict of plain tensors is rejected.
#pragma once
#include <string>

#include "vr/core/tensor_files.h"

namespace vr {

// torch.save zip pickle holding {str: Tensor} → StateDict. Throws vr::Error naming the file otherwise.
StateDict load_torch_pickle(const std::string& path);
// Writes {str: Tensor} with torch::pickle_save (loadable by Python's torch.load), atomically.
void save_torch_pickle(const std::string& path, const StateDict& tensors);

}  // namespace vr
