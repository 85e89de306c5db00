// Running the real `vrtrain` binary from end-to-end tests.
#pragma once
#include <string>

namespace vr::test {

struct CliResult {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string output;  // stdout + stderr
};

// Runs `vrtrain <args>` through the shell, capturing stdout and stderr in <log_dir>/log.txt.
CliResult run_vrtrain(const std::string& args, const std::string& log_dir);

}  // namespace vr::test
