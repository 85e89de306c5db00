// SHA-256 of files, so an evaluation summary names exactly which data it scored (`sha256sum` prints the same hex).
#pragma once
#include <string>

namespace vr::eval {

// Lower-case hex SHA-256 (FIPS 180-4) of `bytes`.
std::string sha256_hex(const std::string& bytes);
// Of a file's contents; vr::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace vr::eval
