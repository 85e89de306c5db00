// "[2, 3, 56, 56]" for error messages (fmt cannot format at::IntArrayRef directly).
#pragma once
#include <string>

#include <c10/util/ArrayRef.h>

namespace vr::model {

inline std::string shape_string(c10::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace vr::model
