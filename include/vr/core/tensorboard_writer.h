// TensorBoard event files: scalars a run's curves can be read from by `tensorboard --logdir`, with no TensorFlow
// and no protobuf library.
//
//   vr::TensorBoardWriter tb(run_dir);                      // run_dir/events.out.tfevents.<time>.<host>.<pid>
//   tb.add_scalars(12, {{"train/loss", 2.31}, {"train/lr", 2e-5}}, vr::tensorboard_wall_time());
//
// File format (TensorFlow's TFRecord framing of `tensorflow.Event` protos), per record:
//   uint64 length (little-endian) | uint32 masked crc32c(length bytes) | data | uint32 masked crc32c(data)
// The messages are hand-encoded protobuf (field numbers from tensorflow/core/util/event.proto and
// framework/summary.proto):
//   Event      { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//                SessionLog session_log = 7; }
//   Summary    { repeated Value value = 1; }    Value { string tag = 1; float simple_value = 2; }
//   SessionLog { enum status = 1 (START = 1); }
// Why by hand rather than libprotobuf (Debian's libprotobuf-dev is even installed, as a LibTorch dependency):
// using it needs the .proto files vendored, protoc at build time (protobuf-compiler, not otherwise needed) and a
// link dependency in both the LibTorch 1.13 and 2.x builds, for five fields of three messages whose wire format
// is frozen (TensorBoard reads 2016 files). The encoder is ~60 lines, checked byte for byte in
// tests/core/tensorboard_writer_test.cpp and against tensorboard's own reader in tests/e2e/tensorboard_test.cpp.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vr {

using ScalarList = std::vector<std::pair<std::string, double>>;  // (tag, value)

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it, named as TensorFlow's writers do plus the pid
  // (events.out.tfevents.<unix seconds>.<hostname>.<pid>: two sessions of one run within a second, as a resume
  // right after a kill, get two files), and writes the file_version record "brain.Event:2" first.
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One event holding one value per (tag, value), flushed to the OS before returning, so a killed run keeps its
  // curves up to the last step. Values are stored as float32 (simple_value).
  void add_scalars(int64_t step, const ScalarList& values, double wall_time);
  void add_scalar(const std::string& tag, int64_t step, double value, double wall_time);
  // A SessionLog START at `step`: TensorBoard's reader then drops every event of the run's earlier files with a
  // step >= `step` (what a killed run wrote after its last checkpoint), so a resumed run shows each step once.
  void add_session_start(int64_t step, double wall_time);

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);

  std::string path_;
  std::FILE* file_ = nullptr;
};

// Rewrites every event file in `dir` (events.out.tfevents.*) without the events whose step is > `step`, and
// without a torn or corrupt tail (a killed writer's last record). A resumed run calls it with its checkpoint's
// step, so no reader sees the killed session's later steps, whether or not it honours SessionLog START (as
// metrics.jsonl drops those lines). Returns the number of events dropped.
int64_t drop_tensorboard_events_after(const std::string& dir, int64_t step);

// Seconds since the Unix epoch, with sub-second precision: an Event's wall_time.
double tensorboard_wall_time();

// The encoding, exposed for tests.
namespace tensorboard {
std::string encode_file_version_event(double wall_time);
std::string encode_scalars_event(int64_t step, const ScalarList& values, double wall_time);
std::string encode_session_start_event(int64_t step, double wall_time);
std::string frame_record(std::string_view data);  // TFRecord framing of one serialized Event
// The serialized Events of a file's records, up to the first torn or corrupt one (either CRC wrong).
std::vector<std::string> read_records(std::string_view file_bytes);
// An Event's step field (0 when absent, as proto3 reads it).
int64_t event_step(std::string_view event);
}  // namespace tensorboard

}  // namespace vr
