// safetensors: 8-byte little-endian header length N, N bytes of JSON header, then raw tensor bytes.
// Reader: memory-mapped; tensors whose dtype LibTorch has are zero-copy views on the mapping.
// Writer: sorted names, 8-byte aligned header ({"format":"pt"} metadata by default), atomic (tmp + rename).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace vr {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);    // "F32", ...
size_t dtype_size(DType d);         // bytes per element
at::ScalarType to_scalar_type(DType d);
DType from_scalar_type(at::ScalarType t);  // throws vr::Error for types safetensors cannot hold

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section, end exclusive
};

// Parsed and fully validated header (JSON, dtypes, shape·size == byte range, offsets in bounds and
// non-overlapping, size limit). Torch-free so the fuzz target can drive it directly.
// `file_size` is the size of the whole file; `source` names the file in error messages.
struct SafetensorsHeader {
  std::vector<TensorEntry> entries;  // in data-offset order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;           // 8 + N
};
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t file_size, const std::string& source);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // mmap + parse; throws vr::Error naming the file
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool contains(const std::string& name) const;
  const TensorEntry& entry(const std::string& name) const;  // throws naming file and tensor
  // A CPU tensor; zero-copy view on the mapping (kept alive by the tensor) when possible.
  at::Tensor tensor(const std::string& name) const;
  std::map<std::string, at::Tensor> tensors() const;
  // Gives the resident pages of tensor `name` back to the OS (madvise MADV_DONTNEED on the whole pages of its
  // bytes): this process's resident memory drops by its size. Its views stay valid and read the file again if
  // touched, but changes written through them are lost. For streaming loads (a checkpoint larger than the host's
  // spare memory): copy a tensor to where it goes, then release it, so the file is never resident all at once.
  void release(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> map_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

// Loads every tensor (copies are not made unless needed).
std::map<std::string, at::Tensor> load_safetensors(const std::string& path);

// Writes tensors (any device / layout; copied to contiguous CPU) atomically to `path`.
void save_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace vr
