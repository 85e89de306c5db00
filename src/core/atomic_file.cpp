#include "core/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include "vr/core/error.h"

namespace vr::detail {

std::string sibling_name(const std::string& path, const std::string& tag) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("{}.{}-{}-{}", path, tag, static_cast<long>(getpid()), counter++);
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path), tmp_(sibling_name(path, "tmp")) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  VR_CHECK(fd_ >= 0, "{}: cannot create temporary file '{}': {}", path_, tmp_, std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    VR_CHECK(w > 0, "{}: write failed: {}", path_, w < 0 ? std::strerror(errno) : "no progress");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFileWriter::commit() {
  VR_CHECK(::fsync(fd_) == 0, "{}: fsync failed: {}", path_, std::strerror(errno));
  int rc = ::close(fd_);
  fd_ = -1;
  VR_CHECK(rc == 0, "{}: close failed: {}", path_, std::strerror(errno));
  VR_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, "{}: cannot rename '{}' onto it: {}", path_, tmp_,
           std::strerror(errno));
  committed_ = true;
  fsync_dir(std::filesystem::path(path_).parent_path().string());
}

}  // namespace vr::detail
