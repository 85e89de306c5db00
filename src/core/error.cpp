#include "vr/core/error.h"

#include <exception>

#include <c10/util/Exception.h>

namespace vr {

void rethrow_with_context(const std::string& context) {
  try {
    throw;
  } catch (const Error& e) {
    throw Error(context + ": " + e.what());
  } catch (const c10::Error& e) {
    // LibTorch messages carry a C++ backtrace after the first line; users need only the first line.
    std::string msg = e.what_without_backtrace();
    throw Error(context + ": " + msg.substr(0, msg.find('\n')));
  } catch (const std::exception& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace vr
