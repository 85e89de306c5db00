// The Python reference stack (Debian python3-torch 1.13 + PyPI transformers 4.44.2) as a test oracle: tests that
// compare with Hugging Face's own code call it and skip with a clear message where it is not installed.
// Never a runtime dependency of vrtrain. Install it with scripts/oracle.sh (the path it prints is the default).
#pragma once
#include <optional>
#include <string>

namespace vr::test {

// A shell prefix that runs a Python with torch and transformers importable, e.g.
//   "PYTHONPATH=/opt/vr-oracle /usr/bin/python3"
// or nullopt when none is found. Looks at $VR_ORACLE_PYTHON (default /usr/bin/python3) and $VR_ORACLE_PYTHONPATH
// (default /opt/vr-oracle, where scripts/oracle.sh installs transformers). Probed once per process.
std::optional<std::string> oracle_python();

// The message a skipped test prints.
std::string oracle_missing_message();

// Runs `<oracle python> <script> <args>` and returns exit code and combined output (as run_vrtrain does);
// the output also lands in <log_dir>/python_log.txt.
struct PythonResult {
  int exit_code = -1;
  std::string output;
};
PythonResult run_oracle_python(const std::string& script_and_args, const std::string& log_dir);

}  // namespace vr::test

// In a test body: skips the test where the oracle is absent.
#define VR_REQUIRE_ORACLE()                                                   \
  do {                                                                        \
    if (!::vr::test::oracle_python()) GTEST_SKIP() << ::vr::test::oracle_missing_message(); \
  } while (0)
