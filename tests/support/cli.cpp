#include "support/cli.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "vr/core/file_io.h"

namespace vr::test {

CliResult run_vrtrain(const std::string& args, const std::string& log_dir) {
  const std::string log = log_dir + "/log.txt";
  const std::string cmd = std::string("\"") + VRTRAIN_BIN + "\" " + args + " > \"" + log + "\" 2>&1";
  const int status = std::system(cmd.c_str());
  std::stringstream ss(vr::read_file(log));
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

}  // namespace vr::test
