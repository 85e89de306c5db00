// Errors that reach the user as one clear line: what failed, where (file, tensor, key, record), why.
#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace vr {

// Every failure vrtrain reports is a vr::Error. Its what() is a complete sentence for the user;
// context() lists where it happened, outermost first ("loading model 'x'", "tensor 'lm_head.weight'").
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Wraps an error with one more line of context: "<context>: <inner message>".
[[noreturn]] void rethrow_with_context(const std::string& context);

}  // namespace vr

// VR_FAIL("{}: expected {} got {}", path, a, b) throws vr::Error with a formatted message.
#define VR_FAIL(...) throw ::vr::Error(::fmt::format(__VA_ARGS__))
// VR_CHECK(cond, "message {}", x): throws vr::Error when cond is false.
#define VR_CHECK(cond, ...)   \
  do {                        \
    if (!(cond)) VR_FAIL(__VA_ARGS__); \
  } while (0)
