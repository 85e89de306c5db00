// safetensors reader (mmap, zero-copy LibTorch views) and writer (sorted, 8-byte aligned, atomic).
// The header format and its validation live in safetensors_header.cpp.
#include "vr/core/safetensors.h"

#include <cerrno>
#include <cstring>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "vr/core/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; host must be too");

namespace vr {

at::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  VR_FAIL("invalid safetensors dtype enum value {}", static_cast<int>(d));
}

DType from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: VR_FAIL("safetensors cannot hold dtype {}", c10::toString(t));
  }
}

// ---- reader -------------------------------------------------------------------------------------------

// A private, copy-on-write mapping of the whole file. PROT_WRITE + MAP_PRIVATE: a caller that modifies a
// loaded tensor in place gets private copies of the touched pages instead of a segfault; the file itself
// never changes. Tensors hold a shared_ptr to it, so the mapping lives as long as any view.
struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
  const uint8_t* bytes() const { return static_cast<const uint8_t*>(addr); }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), map_(std::make_shared<Mapping>()) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VR_CHECK(fd >= 0, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    VR_FAIL("{}: not a regular file", path);
  }
  map_->size = static_cast<size_t>(st.st_size);
  if (map_->size > 0) {
    void* p = ::mmap(nullptr, map_->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    // A writable private mapping is charged against the commit limit; under strict overcommit a file
    // larger than RAM + swap is refused. Read-only mappings are not charged: fall back to one (in-place
    // writes to such tensors would then fault, so callers must copy before modifying).
    if (p == MAP_FAILED && errno == ENOMEM) p = ::mmap(nullptr, map_->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    VR_CHECK(p != MAP_FAILED, "{}: cannot mmap {} bytes: {}", path, map_->size, std::strerror(err));
    map_->addr = p;
  } else {
    ::close(fd);
  }
  header_ = parse_safetensors_header(map_->bytes(), map_->size, path);
  for (size_t i = 0; i < header_.entries.size(); ++i) index_[header_.entries[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() = default;

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) > 0; }

const TensorEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  VR_CHECK(it != index_.end(), "{}: no tensor named '{}' ({} tensors in file)", path_, name, index_.size());
  return header_.entries[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorEntry& e = entry(name);
  const auto options = at::TensorOptions().dtype(to_scalar_type(e.dtype));
  const uint64_t nbytes = e.end - e.begin;
  if (nbytes == 0) return at::empty(e.shape, options);
  uint8_t* ptr = static_cast<uint8_t*>(map_->addr) + header_.data_start + e.begin;
  if (e.dtype == DType::BOOL) {
    // LibTorch assumes bool bytes are 0 or 1; anything else is undefined behaviour downstream.
    for (uint64_t i = 0; i < nbytes; ++i)
      VR_CHECK(ptr[i] <= 1, "{}: tensor '{}': BOOL byte {} has value {} (must be 0 or 1)", path_, name, i, ptr[i]);
  }
  if (reinterpret_cast<uintptr_t>(ptr) % dtype_size(e.dtype) == 0) {
    std::shared_ptr<Mapping> keep = map_;
    return at::from_blob(ptr, e.shape, [keep](void*) mutable { keep.reset(); }, options);
  }
  // Unaligned for its dtype (a writer that did not pad the header): copy into an aligned buffer.
  at::Tensor t = at::empty(e.shape, options);
  std::memcpy(t.data_ptr(), ptr, nbytes);
  return t;
}

void SafetensorsFile::release(const std::string& name) const {
  const TensorEntry& e = entry(name);
  if (!map_->addr) return;
  // Whole pages inside the tensor's bytes only: a page it shares with a neighbour stays (that neighbour may not
  // have been copied yet; it costs at most 2 pages per tensor).
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_->addr);
  const uintptr_t lo = (base + header_.data_start + e.begin + page - 1) / page * page;
  const uintptr_t hi = (base + header_.data_start + e.end) / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::map<std::string, at::Tensor> SafetensorsFile::tensors() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& e : header_.entries) out.emplace(e.name, tensor(e.name));
  return out;
}

std::map<std::string, at::Tensor> load_safetensors(const std::string& path) { return SafetensorsFile(path).tensors(); }

// ---- writer -------------------------------------------------------------------------------------------

void save_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Header first (needs only dtypes and shapes), then each tensor's bytes streamed in the same sorted order,
  // moving one tensor at a time to CPU so a GPU model never needs a second full copy in host memory.
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    VR_CHECK(name != "__metadata__", "{}: '__metadata__' is reserved and cannot name a tensor", path);
    VR_CHECK(t.defined(), "{}: tensor '{}' is undefined", path, name);
    VR_CHECK(t.layout() == at::kStrided, "{}: tensor '{}': only dense tensors can be saved", path, name);
    DType d;
    try {
      d = from_scalar_type(t.scalar_type());
    } catch (...) {
      rethrow_with_context(fmt::format("{}: tensor '{}'", path, name));
    }
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(d);
    header[name] = {{"dtype", dtype_name(d)}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(json.size()) >> (8 * i));

  detail::AtomicFileWriter out(path);
  out.write(len, 8);
  out.write(json.data(), json.size());
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    try {
      at::Tensor c = t.detach().to(at::kCPU).contiguous();
      out.write(c.data_ptr(), c.numel() * c.element_size());
    } catch (...) {
      rethrow_with_context(fmt::format("{}: writing tensor '{}'", path, name));
    }
  }
  out.commit();
}

}  // namespace vr
