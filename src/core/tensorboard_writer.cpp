#include "vr/core/tensorboard_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "vr/core/crc32c.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"

namespace vr {

namespace tensorboard {

namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_little_endian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) { put_varint(out, (field << 3) | wire_type); }

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_little_endian(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_little_endian(out, bits, 4);
}

// int64 fields are plain varints of the two's-complement value (a negative step takes 10 bytes).
void put_int64(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));
}

// Event's wall_time (1) and step (2), the prefix of every event.
std::string event_head(double wall_time, int64_t step) {
  std::string e;
  put_double(e, 1, wall_time);
  if (step != 0) put_int64(e, 2, step);  // proto3: a zero scalar is not written
  return e;
}

}  // namespace

std::string encode_file_version_event(double wall_time) {
  std::string e = event_head(wall_time, 0);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string encode_scalars_event(int64_t step, const ScalarList& values, double wall_time) {
  std::string summary;
  for (const auto& [tag, value] : values) {
    std::string v;
    put_bytes(v, 1, tag);
    put_float(v, 2, static_cast<float>(value));
    put_bytes(summary, 1, v);  // Summary.value, repeated
  }
  std::string e = event_head(wall_time, step);
  put_bytes(e, 5, summary);
  return e;
}

std::string encode_session_start_event(int64_t step, double wall_time) {
  std::string session_log;
  put_key(session_log, 1, kVarint);
  put_varint(session_log, 1);  // SessionLog.START
  std::string e = event_head(wall_time, step);
  put_bytes(e, 7, session_log);  // field 6 is the deprecated log_message
  return e;
}

std::string frame_record(std::string_view data) {
  std::string length;
  put_little_endian(length, data.size(), 8);
  std::string out = length;
  put_little_endian(out, masked_crc32c(length), 4);
  out.append(data.data(), data.size());
  put_little_endian(out, masked_crc32c(data), 4);
  return out;
}

namespace {

uint64_t get_little_endian(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// Reads a varint at `at`, advancing it; false past the end or beyond 10 bytes.
bool get_varint(std::string_view s, size_t& at, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 70 && at < s.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(s[at++]);
    v |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> read_records(std::string_view bytes) {
  std::vector<std::string> out;
  for (size_t at = 0; at + 12 <= bytes.size();) {
    const uint64_t n = get_little_endian(bytes, at, 8);
    if (get_little_endian(bytes, at + 8, 4) != masked_crc32c(bytes.substr(at, 8))) break;
    if (n > bytes.size() - at - 16) break;  // torn: the data or its CRC is missing
    const std::string_view data = bytes.substr(at + 12, n);
    if (get_little_endian(bytes, at + 12 + n, 4) != masked_crc32c(data)) break;
    out.emplace_back(data);
    at += 16 + n;
  }
  return out;
}

// Walks the fields, skipping each by its wire type, until field 2 (step).
int64_t event_step(std::string_view e) {
  size_t at = 0;
  uint64_t key = 0, v = 0;
  while (at < e.size() && get_varint(e, at, key)) {
    switch (key & 7) {
      case kVarint:
        if (!get_varint(e, at, v)) return 0;
        if ((key >> 3) == 2) return static_cast<int64_t>(v);
        break;
      case kFixed64: at += 8; break;
      case kFixed32: at += 4; break;
      case kLengthDelimited:
        if (!get_varint(e, at, v)) return 0;
        at += v;
        break;
      default: return 0;  // groups: never in an Event
    }
  }
  return 0;
}

}  // namespace tensorboard

int64_t drop_tensorboard_events_after(const std::string& dir, int64_t step) {
  int64_t dropped = 0;
  if (!std::filesystem::is_directory(dir)) return 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) != 0) continue;
    const std::string bytes = read_file(entry.path().string());
    std::string kept;
    size_t kept_events = 0, events = 0;
    for (const std::string& e : tensorboard::read_records(bytes)) {
      ++events;
      if (tensorboard::event_step(e) > step) continue;
      kept += tensorboard::frame_record(e);
      ++kept_events;
    }
    dropped += static_cast<int64_t>(events - kept_events);
    if (kept.size() != bytes.size()) atomic_write_file(entry.path().string(), kept);
  }
  return dropped;
}

double tensorboard_wall_time() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  path_ = (std::filesystem::path(dir) /
           fmt::format("events.out.tfevents.{:010d}.{}.{}", static_cast<long long>(std::time(nullptr)), host,
                       static_cast<long>(getpid())))
              .string();
  file_ = std::fopen(path_.c_str(), "ab");
  VR_CHECK(file_ != nullptr, "cannot open TensorBoard event file '{}' for writing", path_);
  write_record(tensorboard::encode_file_version_event(tensorboard_wall_time()));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::add_scalars(int64_t step, const ScalarList& values, double wall_time) {
  if (!values.empty()) write_record(tensorboard::encode_scalars_event(step, values, wall_time));
}

void TensorBoardWriter::add_scalar(const std::string& tag, int64_t step, double value, double wall_time) {
  add_scalars(step, {{tag, value}}, wall_time);
}

void TensorBoardWriter::add_session_start(int64_t step, double wall_time) {
  write_record(tensorboard::encode_session_start_event(step, wall_time));
}

// One fwrite per record and a flush: a killed process leaves whole records (at worst a torn last one, which
// TensorBoard's reader skips as incomplete).
void TensorBoardWriter::write_record(const std::string& event) {
  const std::string record = tensorboard::frame_record(event);
  std::fwrite(record.data(), 1, record.size(), file_);
  std::fflush(file_);
}

}  // namespace vr
