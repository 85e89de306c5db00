// TensorBoard event files: crc32c's standard check value, Events byte for byte against protobuf's own
// serialization (the hex below is what tensorboard.compat.proto.event_pb2 serializes for the same fields), and
// the TFRecord framing of a written file decoded by hand.
#include "vr/core/crc32c.h"
#include "vr/core/tensorboard_writer.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/file_io.h"

namespace core_tensorboard_writer_test {

namespace fs = std::filesystem;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

uint64_t read_le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

TEST(Crc32c, StandardCheckValueAndMasking) {
  EXPECT_EQ(vr::crc32c("123456789"), 0xE3069283u);  // the CRC catalogue's check value for CRC-32C
  EXPECT_EQ(vr::crc32c(""), 0u);
  // TFRecord masking of the 8-byte length 23 (values from tensorboard's own pure-Python crc32c).
  EXPECT_EQ(vr::masked_crc32c(std::string("\x17\0\0\0\0\0\0\0", 8)), 0x1ef8cee7u);
}

TEST(TensorBoardEvent, EncodesAsProtobufDoes) {
  using namespace vr::tensorboard;
  //   09 <double 2.0>  10 03 (step 3)  2a 0a (summary, 10 bytes)  0a 08 (value, 8 bytes)  0a 01 'a'  15 <float 1.0>
  EXPECT_EQ(hex(encode_scalars_event(3, {{"a", 1.0}}, 2.0)), "0900000000000000401003" "2a0a" "0a08" "0a0161" "150000803f");
  EXPECT_EQ(hex(encode_session_start_event(7, 2.0)), "0900000000000000401007" "3a02" "0801");
  EXPECT_EQ(hex(encode_file_version_event(2.0)), "0900000000000000401a0d627261696e2e4576656e743a32");
  // A negative int64 is a 10-byte varint.
  EXPECT_EQ(hex(encode_scalars_event(-1, {}, 1.5)).substr(0, 40), "09000000000000f83f10ffffffffffffffffff01");
}

TEST(TensorBoardEvent, FramesARecord) {
  const std::string event = vr::tensorboard::encode_scalars_event(3, {{"a", 1.0}}, 2.0);
  const std::string r = vr::tensorboard::frame_record(event);
  ASSERT_EQ(r.size(), 8 + 4 + event.size() + 4);
  EXPECT_EQ(read_le(r, 0, 8), event.size());
  EXPECT_EQ(read_le(r, 8, 4), 0x1ef8cee7u);  // masked crc32c of the length bytes
  EXPECT_EQ(r.substr(12, event.size()), event);
  EXPECT_EQ(read_le(r, 12 + event.size(), 4), 0x7c714312u);  // masked crc32c of the data (tensorboard's value)
}

TEST(TensorBoardWriter, WritesVersionThenOneFlushedRecordPerCall) {
  const std::string dir = vr::test::temp_dir("tensorboard_writer") + "/run";
  vr::TensorBoardWriter tb(dir);
  const std::string name = fs::path(tb.path()).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(fs::path(tb.path()).parent_path(), fs::path(dir));
  tb.add_scalars(5, {{"train/loss", 0.25}, {"train/lr", 1e-3}}, 100.0);
  tb.add_scalar("train/loss", 6, 0.125, 101.0);
  // Read while the writer is open: each record is on disk already.
  const std::string bytes = vr::read_file(tb.path());
  std::vector<std::string> events;
  for (size_t at = 0; at < bytes.size();) {
    ASSERT_LE(at + 12, bytes.size());
    const uint64_t n = read_le(bytes, at, 8);
    EXPECT_EQ(read_le(bytes, at + 8, 4), vr::masked_crc32c(bytes.substr(at, 8)));
    ASSERT_LE(at + 16 + n, bytes.size());
    events.push_back(bytes.substr(at + 12, n));
    EXPECT_EQ(read_le(bytes, at + 12 + n, 4), vr::masked_crc32c(events.back()));
    at += 16 + n;
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_NE(events[0].find("brain.Event:2"), std::string::npos);
  EXPECT_EQ(events[1], vr::tensorboard::encode_scalars_event(5, {{"train/loss", 0.25}, {"train/lr", 1e-3}}, 100.0));
  EXPECT_EQ(events[2], vr::tensorboard::encode_scalars_event(6, {{"train/loss", 0.125}}, 101.0));
}

// A resume trims what the killed session wrote after its checkpoint, and a torn last record, from earlier files.
TEST(TensorBoardWriter, DropEventsAfterAStepKeepsEarlierOnesAndCutsATornTail) {
  const std::string dir = vr::test::temp_dir("tensorboard_drop");
  std::string path;
  {
    vr::TensorBoardWriter tb(dir);
    for (int64_t step = 1; step <= 5; ++step) tb.add_scalar("train/loss", step, 1.0 / step, 100.0 + step);
    path = tb.path();
  }
  {
    std::FILE* f = std::fopen(path.c_str(), "ab");  // a kill in the middle of a record
    const std::string torn = vr::tensorboard::frame_record(vr::tensorboard::encode_scalars_event(6, {{"x", 1}}, 1));
    std::fwrite(torn.data(), 1, torn.size() - 5, f);
    std::fclose(f);
  }
  EXPECT_EQ(vr::tensorboard::read_records(vr::read_file(path)).size(), 6u);  // version + 5 steps, not the torn one
  EXPECT_EQ(vr::drop_tensorboard_events_after(dir, 3), 2);                  // steps 4 and 5
  const auto events = vr::tensorboard::read_records(vr::read_file(path));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(vr::tensorboard::event_step(events[0]), 0);  // the file version
  for (int64_t step = 1; step <= 3; ++step) {
    EXPECT_EQ(vr::tensorboard::event_step(events[step]), step);
    EXPECT_EQ(events[step], vr::tensorboard::encode_scalars_event(step, {{"train/loss", 1.0 / step}}, 100.0 + step));
  }
  EXPECT_EQ(vr::read_file(path).size(), [&] {
    size_t n = 0;
    for (const auto& e : events) n += e.size() + 16;
    return n;
  }());
  EXPECT_EQ(vr::tensorboard::event_step(vr::tensorboard::encode_session_start_event(-1, 1.0)), -1);
}

}  // namespace core_tensorboard_writer_test
