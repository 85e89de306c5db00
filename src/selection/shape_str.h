// "[2, 24, 48]" for error messages.
#pragma once
#include <string>

#include <ATen/Tensor.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace vr::selection {
inline std::string shape_str(at::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }
inline std::string shape_str(const at::Tensor& t) { return shape_str(t.sizes()); }
}  // namespace vr::selection
