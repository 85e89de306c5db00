// Whole-file reads and crash-safe writes: the one place vrtrain reads a file into memory or replaces one.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace vr {

// The whole file as bytes; a vr::Error naming the file (and the OS reason) when it cannot be read.
std::string read_file(const std::string& path);
// read_file + JSON parse; a vr::Error naming the file on invalid JSON.
nlohmann::json read_json_file(const std::string& path);

// Writes bytes to path via a sibling temp file + fsync + rename: readers see the old file or the new one.
void atomic_write_file(const std::string& path, const std::string& bytes);

// Builds a directory atomically: `fill` writes everything into a fresh sibling temp directory (same filesystem),
// which is fsync'ed and renamed onto `dir`, replacing an existing `dir` (the old one is moved aside first and
// removed last, so a crash leaves either the complete old or the complete new directory, never a mix). If
// `fill` throws, the temp directory is removed and `dir` is untouched.
void write_directory_atomically(const std::string& dir, const std::function<void(const std::string& tmp)>& fill);

}  // namespace vr
