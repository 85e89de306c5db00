// Logging setup: level names, $VR_LOG_LEVEL, file sink, rank prefix, warn_once.
#include "vr/core/file_io.h"
#include "vr/core/logging.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/error.h"

namespace core_logging_test {

namespace {
std::string slurp(const std::string& path) {
  return vr::read_file(path);
}
size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}
}  // namespace

TEST(Logging, LevelsFromArgumentAndEnvironment) {
  setenv("VR_LOG_LEVEL", "debug", 1);
  vr::log::setup();
  EXPECT_EQ(vr::log::level_name(), "debug");
  vr::log::setup("error");  // an explicit level wins over the environment
  EXPECT_EQ(vr::log::level_name(), "error");
  setenv("VR_LOG_LEVEL", "loud", 1);
  EXPECT_THROW(vr::log::setup(), vr::Error);
  unsetenv("VR_LOG_LEVEL");
  vr::log::setup();
  EXPECT_EQ(vr::log::level_name(), "info");
  EXPECT_THROW(vr::log::set_level("verbose"), vr::Error);
}

TEST(Logging, FileSinkRankPrefixAndWarnOnce) {
  const std::string path = vr::test::temp_dir("log") + "/logs/train.log";
  vr::log::setup("info");
  vr::log::add_file(path);
  vr::log::info("loaded {} tensors", 30);
  vr::log::debug("hidden at info level");
  vr::log::set_rank(3);
  vr::log::warn_once("k", "only once");
  vr::log::warn_once("k", "only once");
  std::string text = slurp(path);  // flushed per line
  EXPECT_NE(text.find("info  loaded 30 tensors"), std::string::npos) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  EXPECT_EQ(count(text, "only once"), 1u) << text;
  EXPECT_NE(text.find("[rank 3] only once"), std::string::npos) << text;
  EXPECT_TRUE(vr::log::enabled(vr::log::Level::warn));
  EXPECT_FALSE(vr::log::enabled(vr::log::Level::debug));
  vr::log::setup();  // back to a plain stderr logger (file closed, no rank) for the other tests
  vr::log::info("after setup");
  EXPECT_EQ(slurp(path).find("after setup"), std::string::npos);
}

}  // namespace core_logging_test
