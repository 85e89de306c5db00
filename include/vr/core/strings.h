// The few string helpers every module needs (prefix / suffix tests on tensor and file names).
#pragma once
#include <string>

namespace vr {

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
// `s` without its first prefix.size() characters (call after starts_with(s, prefix)).
inline std::string after(const std::string& s, const std::string& prefix) { return s.substr(prefix.size()); }

}  // namespace vr
