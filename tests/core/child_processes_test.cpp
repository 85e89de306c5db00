// The child-process supervisor `vrtrain launch` and `vrtrain study` share: prefixed output, log files, exit codes,
// and the others ended on a failure.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "support/fixtures.h"
#include "vr/core/child_processes.h"

namespace core_child_processes_test {

namespace {

vr::ChildSpec shell(const std::string& script, const std::string& log = "", const std::string& prefix = "") {
  return {"/bin/sh", {"sh", "-c", script}, {{"VR_CHILD_TEST", "42"}}, log, prefix};
}

TEST(ChildProcesses, PrefixesPipedLinesAndReportsExitCodes) {
  testing::internal::CaptureStdout();
  vr::ChildProcesses kids;
  kids.start(shell("echo one; echo \"two $VR_CHILD_TEST\" >&2; printf tail; exit 3", "", "[a] "));
  int code = -1;
  while (const auto e = kids.wait_any()) code = e->code;
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 3);
  EXPECT_NE(out.find("[a] one\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[a] two 42\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[a] tail\n"), std::string::npos) << out;  // a last line without newline still comes out
  EXPECT_EQ(kids.running(), 0u);
}

TEST(ChildProcesses, AppendsToLogFiles) {
  const std::string log = vr::test::temp_dir("child_processes_log") + "/logs/x.log";
  for (int i = 0; i < 2; ++i) {
    vr::ChildProcesses kids;
    kids.start(shell("echo out; echo err >&2", log));
    const auto e = kids.wait_any();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, 0);
    EXPECT_FALSE(kids.wait_any().has_value());
  }
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), "out\nerr\nout\nerr\n");
}

TEST(ChildProcesses, StopAllEndsTheOthers) {
  vr::ChildProcesses kids;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t sleeper = kids.start(shell("exec sleep 30", "/dev/null"));
  const size_t failing = kids.start(shell("exit 1", "/dev/null"));
  auto e = kids.wait_any();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->child, failing);
  EXPECT_EQ(e->code, 1);
  kids.stop_all();
  EXPECT_TRUE(kids.stopping());
  e = kids.wait_any();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->child, sleeper);
  EXPECT_EQ(e->code, 128 + 15);  // SIGTERM
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
}

TEST(ChildProcesses, ForwardsSignals) {  // as `vrtrain launch` does with SIGINT / SIGTERM
  vr::ChildProcesses kids({/*forward_signals=*/true, std::chrono::seconds(10), "test", "children"});
  kids.start(shell("exec sleep 30", "/dev/null"));
  std::raise(SIGTERM);  // caught by the supervisor's handler, forwarded to the child
  const auto e = kids.wait_any();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 128 + SIGTERM);
  EXPECT_EQ(kids.signal(), SIGTERM);
  EXPECT_TRUE(kids.stopping());
}

TEST(ChildProcesses, ExecFailureExits127) {
  vr::ChildProcesses kids;
  kids.start({"/nonexistent/program", {"program"}, {}, "/dev/null", ""});
  const auto e = kids.wait_any();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 127);
}

}  // namespace

}  // namespace core_child_processes_test
