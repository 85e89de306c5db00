#include "vr/core/file_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "vr/core/error.h"
#include "vr/core/printable.h"

namespace fs = std::filesystem;

namespace vr {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VR_CHECK(in, "{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  VR_CHECK(!in.bad(), "{}: read error", path);
  return ss.str();
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("{}: invalid JSON: {}", path, printable(e.what()));  // nlohmann quotes the raw bytes it read
  }
}

void atomic_write_file(const std::string& path, const std::string& bytes) {
  detail::AtomicFileWriter out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

void write_directory_atomically(const std::string& dir, const std::function<void(const std::string& tmp)>& fill) {
  fs::path target = fs::path(dir);
  if (!target.has_filename()) target = target.parent_path();  // "out/ckpt/" → "out/ckpt"
  VR_CHECK(!fs::exists(target) || fs::is_directory(target), "{}: exists and is not a directory", dir);
  fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  VR_CHECK(!ec, "{}: cannot create parent directory: {}", dir, ec.message());

  const std::string tmp = detail::sibling_name(target.string(), "tmp");
  fs::create_directory(tmp, ec);
  VR_CHECK(!ec, "{}: cannot create temporary directory '{}': {}", dir, tmp, ec.message());
  try {
    fill(tmp);
    detail::fsync_dir(tmp);
    if (!fs::exists(target)) {
      VR_CHECK(::rename(tmp.c_str(), target.c_str()) == 0, "{}: cannot rename '{}' onto it: {}", dir, tmp,
               std::strerror(errno));
    } else {
      // Replace: move the old directory aside, move the new one in, then delete the old one. A crash in
      // between leaves the old directory complete under <dir>.old-*, never a half-written <dir>.
      const std::string old = detail::sibling_name(target.string(), "old");
      VR_CHECK(::rename(target.c_str(), old.c_str()) == 0, "{}: cannot move the existing directory aside: {}", dir,
               std::strerror(errno));
      if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const int err = errno;
        ::rename(old.c_str(), target.c_str());  // put the old directory back
        VR_FAIL("{}: cannot rename '{}' onto it: {}", dir, tmp, std::strerror(err));
      }
      fs::remove_all(old, ec);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  detail::fsync_dir(parent.string());
}

}  // namespace vr
