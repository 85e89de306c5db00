#include "vr/core/error.h"

#include <gtest/gtest.h>

namespace core_error_test {

TEST(Error, CheckThrowsFormattedMessage) {
  try {
    VR_CHECK(1 + 1 == 3, "tensor '{}': expected {} dims, got {}", "w", 2, 3);
    FAIL() << "no throw";
  } catch (const vr::Error& e) {
    EXPECT_STREQ(e.what(), "tensor 'w': expected 2 dims, got 3");
  }
}

TEST(Error, ContextIsPrepended) {
  try {
    try {
      VR_FAIL("bad dtype");
    } catch (...) {
      vr::rethrow_with_context("loading 'model.safetensors'");
    }
  } catch (const vr::Error& e) {
    EXPECT_STREQ(e.what(), "loading 'model.safetensors': bad dtype");
  }
}

}  // namespace core_error_test
