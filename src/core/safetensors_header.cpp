// The torch-free half of safetensors: dtype table and strict header validation.
// Kept free of LibTorch so the libFuzzer target (tests/fuzz) can compile it on its own.
//
// File layout (all little-endian):
//   [0, 8)          u64 N = header length
//   [8, 8+N)        UTF-8 JSON object, optionally padded with spaces
//   [8+N, size)     data section; every tensor's data_offsets are relative to its start
// The reference implementation (huggingface/safetensors) requires the tensors to tile the data section
// exactly: sorted by offset, each begins where the previous ended, the last ends at the file's end.
// We enforce the same, so a file we accept is one every other reader accepts too.
#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/core/printable.h"
#include "vr/core/safetensors.h"

namespace vr {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

// Dtypes the format defines but vrtrain does not load (no LibTorch 1.13 equivalent).
constexpr const char* kUnsupportedDTypes[] = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
                                             "F6_E3M2", "C64"};

const DTypeInfo& info(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i;
  VR_FAIL("invalid safetensors dtype enum value {}", static_cast<int>(d));
}

// A JSON value that is a non-negative integer (rejects 2.0, -1, true, "3", and integers beyond u64).
bool as_u64(const nlohmann::json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// ensure_ascii: non-ASCII as \uXXXX, so the message is plain ASCII and the cut below never splits a character.
std::string short_json(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', /*ensure_ascii=*/true);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

TensorEntry parse_entry(const std::string& source, const std::string& name, const nlohmann::json& v,
                        uint64_t data_size) {
  auto fail = [&](const std::string& why) { VR_FAIL("{}: tensor '{}': {}", source, printable(name), why); };
  if (!v.is_object()) fail(fmt::format("expected an object with dtype/shape/data_offsets, got {}", short_json(v)));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail(fmt::format("missing \"{}\"", key));

  TensorEntry e;
  e.name = name;
  const auto& dt = v["dtype"];
  if (!dt.is_string()) fail(fmt::format("\"dtype\" must be a string, got {}", short_json(dt)));
  const std::string dts = dt.get<std::string>();
  const DTypeInfo* found = nullptr;
  for (const auto& i : kDTypes)
    if (dts == i.name) found = &i;
  if (!found) {
    for (const char* u : kUnsupportedDTypes)
      if (dts == u) fail(fmt::format("dtype {} is not supported by vrtrain", dts));
    fail(fmt::format("unknown dtype {}", short_json(dt)));
  }
  e.dtype = found->dtype;

  const auto& shape = v["shape"];
  if (!shape.is_array()) fail(fmt::format("\"shape\" must be a list of integers, got {}", short_json(shape)));
  // numel·size computed in u64 with overflow checks; each dim must also fit LibTorch's int64 sizes.
  // `strided` = product of max(dim, 1), LibTorch's largest stride: must fit int64 even when numel is 0.
  uint64_t bytes = found->size;
  int64_t strided = 1;
  for (const auto& d : shape) {
    uint64_t dim = 0;
    if (!as_u64(d, dim) || dim > static_cast<uint64_t>(INT64_MAX))
      fail(fmt::format("shape {} has an entry that is not a non-negative integer", short_json(shape)));
    e.shape.push_back(static_cast<int64_t>(dim));
    if (__builtin_mul_overflow(bytes, dim, &bytes) ||
        __builtin_mul_overflow(strided, std::max<int64_t>(static_cast<int64_t>(dim), 1), &strided))
      fail(fmt::format("shape {} is too large", short_json(shape)));
  }

  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !as_u64(off[0], e.begin) || !as_u64(off[1], e.end))
    fail(fmt::format("\"data_offsets\" must be [begin, end] non-negative integers, got {}", short_json(off)));
  if (e.begin > e.end) fail(fmt::format("data_offsets [{}, {}] end before begin", e.begin, e.end));
  if (e.end > data_size)
    fail(fmt::format("data_offsets [{}, {}] beyond the data section ({} bytes; file truncated?)", e.begin, e.end,
                     data_size));
  if (bytes != e.end - e.begin)
    fail(fmt::format("shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", short_json(shape), dts, bytes,
                     e.begin, e.end, e.end - e.begin));
  return e;
}

}  // namespace

const char* dtype_name(DType d) { return info(d).name; }
size_t dtype_size(DType d) { return info(d).size; }

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t file_size, const std::string& source) {
  // Same limit as the reference reader: real headers are kilobytes to a few MB.
  constexpr uint64_t kMaxHeaderBytes = 100'000'000;
  VR_CHECK(file_size >= 8, "{}: not a safetensors file: {} bytes, shorter than the 8-byte length field", source,
           file_size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian regardless of host
  VR_CHECK(n <= kMaxHeaderBytes, "{}: header length {} exceeds the {}-byte limit (not a safetensors file?)", source, n,
           kMaxHeaderBytes);
  VR_CHECK(n <= file_size - 8, "{}: header length {} runs past the end of the file ({} bytes; truncated?)", source, n,
           file_size);
  VR_CHECK(n >= 2 && data[8] == '{', "{}: header does not start with '{{' (not a safetensors file?)", source);

  // Parse with a callback that spots duplicate top-level keys (nlohmann would silently keep the last).
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (ev == nlohmann::json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json j;
  const char* first = reinterpret_cast<const char*>(data + 8);
  try {
    j = nlohmann::json::parse(first, first + n, on_event);
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("{}: header is not valid JSON: {}", source, printable(e.what()));  // quotes the bytes it read
  }
  VR_CHECK(j.is_object(), "{}: header must be a JSON object", source);
  VR_CHECK(duplicate.empty(), "{}: tensor '{}' appears twice in the header", source, printable(duplicate));

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = file_size - h.data_start;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      VR_CHECK(value.is_object(), "{}: __metadata__ must be an object of strings, got {}", source, short_json(value));
      for (const auto& [mk, mv] : value.items()) {
        VR_CHECK(mv.is_string(), "{}: __metadata__ '{}' must be a string, got {}", source, printable(mk),
                 short_json(mv));
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(source, key, value, data_size));
  }

  // Tensors must tile [0, data_size) exactly, in offset order (zero-size tensors sort first at their offset).
  std::sort(h.entries.begin(), h.entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const TensorEntry* prev = nullptr;
  for (const auto& e : h.entries) {
    if (e.begin < cursor)
      VR_FAIL("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", source, printable(e.name), e.begin,
              e.end, printable(prev->name), prev->begin, prev->end);
    if (e.begin > cursor)
      VR_FAIL("{}: tensor '{}': data_offsets [{}, {}] leave a gap of {} bytes after offset {} (tensors must be packed)",
              source, printable(e.name), e.begin, e.end, e.begin - cursor, cursor);
    cursor = e.end;
    prev = &e;
  }
  VR_CHECK(cursor == data_size, "{}: {} bytes after the last tensor's data are not described by the header", source,
           data_size - cursor);
  return h;
}

}  // namespace vr
