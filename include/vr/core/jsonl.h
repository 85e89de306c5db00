// Append-only JSON Lines files for metrics and event logs: one JSON value per line, each line written with
// a single write and flushed, so `tail -f`, plotting scripts and a crashed run all see whole records.
//
//   vr::JsonlWriter metrics(run_dir + "/metrics.jsonl");
//   metrics.write({{"step", 12}, {"loss", 2.31}, {"lr", 2e-5}});
#pragma once
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vr {

class JsonlWriter {
 public:
  // Opens `path` for appending (truncate = false) or fresh (truncate = true); creates parent directories.
  // When appending after a crash left a torn last line, a newline is added first so new records stay whole.
  explicit JsonlWriter(const std::string& path, bool truncate = false);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  // Appends one line (compact JSON; NaN/inf become null as JSON has no such numbers) and flushes it.
  // Thread-safe.
  void write(const nlohmann::json& record);
  // The same for an insertion-ordered object, for formats whose readers expect a key order (LLaVA's answers);
  // a name of its own, since an overload would make write({{"step", 1}}) ambiguous.
  void write_ordered(const nlohmann::ordered_json& record);
  const std::string& path() const { return path_; }

 private:
  void append_line(const std::string& line);

  std::string path_;
  std::FILE* file_ = nullptr;
  std::mutex mutex_;
};

// Every record of a JSONL file, skipping blank lines. A malformed line is an error naming file:line,
// except a final line without its newline (a write torn by a crash), which is dropped.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace vr
