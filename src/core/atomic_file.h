// Crash-safe file writing: bytes go to "<path>.tmp-<pid>-<n>", are fsync'ed, then renamed over <path>,
// so readers only ever see the old file or the complete new one. Internal to src/core.
#pragma once
#include <cstddef>
#include <string>

namespace vr::detail {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);  // creates the temp file beside `path`
  ~AtomicFileWriter();                                  // removes the temp file unless commit() ran
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n);  // all of it, retrying short writes
  void commit();                           // fsync, close, rename onto path, fsync the directory

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// fsync a directory so a rename inside it survives a crash (errors ignored: some filesystems refuse).
void fsync_dir(const std::string& dir);
// A unique sibling name for `path`: "<path>.<tag>-<pid>-<counter>".
std::string sibling_name(const std::string& path, const std::string& tag);

}  // namespace vr::detail
