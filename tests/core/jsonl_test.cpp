// JSONL metrics files: one flushed line per record, torn-line recovery, strict reading.
#include "vr/core/file_io.h"
#include "vr/core/jsonl.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/error.h"

namespace core_jsonl_test {

namespace {
std::string slurp(const std::string& path) {
  return vr::read_file(path);
}
}  // namespace

TEST(Jsonl, WritesFlushedLinesAndAppends) {
  const std::string path = vr::test::temp_dir("jsonl") + "/run/metrics.jsonl";  // parent created
  {
    vr::JsonlWriter w(path);
    w.write({{"step", 1}, {"loss", 2.5}});
    EXPECT_EQ(slurp(path), "{\"loss\":2.5,\"step\":1}\n");  // visible before close
    w.write({{"step", 2}, {"loss", NAN}});
  }
  {
    vr::JsonlWriter w(path);  // append
    w.write({{"step", 3}});
  }
  auto records = vr::read_jsonl(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1]["step"], 2);
  EXPECT_TRUE(records[1]["loss"].is_null());
  EXPECT_EQ(records[2]["step"], 3);
  vr::JsonlWriter fresh(path, /*truncate=*/true);
  fresh.write({{"x", 1}});
  EXPECT_EQ(vr::read_jsonl(path).size(), 1u);
}

TEST(Jsonl, TornLastLineIsDroppedAndRepairedOnAppend) {
  const std::string path = vr::test::temp_dir("jsonl") + "/m.jsonl";
  std::ofstream(path) << "{\"step\":1}\n{\"step\":2,\"lo";
  EXPECT_EQ(vr::read_jsonl(path).size(), 1u);
  {
    vr::JsonlWriter w(path);
    w.write({{"step", 3}});
  }
  // the torn line is now a complete bad line in the middle: reading stops being lenient about it
  EXPECT_THROW(vr::read_jsonl(path), vr::Error);
  std::ofstream(path) << "{\"a\":1}\n\n{bad}\n{\"a\":2}\n";
  try {
    vr::read_jsonl(path);
    FAIL();
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":3:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(vr::read_jsonl(path + ".none"), vr::Error);
  EXPECT_THROW(vr::JsonlWriter("/proc/no/such/file.jsonl"), vr::Error);
}

}  // namespace core_jsonl_test
