// "[2, 16, 64]": how every message and table in vrtrain prints a tensor shape.
#pragma once
#include <string>

#include <c10/util/ArrayRef.h>

namespace vr {

std::string shape_string(c10::IntArrayRef sizes);

}  // namespace vr
