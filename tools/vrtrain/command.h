// Subcommands of the vrtrain executable. Each lives in its own cmd_<name>.cpp, inside `namespace cmd_<name>`
// (named, not anonymous, so a unity build can put several commands in one translation unit), and registers itself:
//   vr::cli::Registration registration_forward{"forward", "Run a checkpoint on tensors from a file", &run_forward};
// and reads its flags with the shared reader, vrtrain/arguments.h (same --help layout, error line, exit codes).
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace vr::cli {

// args excludes the program and subcommand names. Returns the process exit code.
using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string name;
  std::string summary;  // one line for `vrtrain --help`
  CommandFn run;
};

std::vector<Command>& commands();

// The running vrtrain executable, for commands that start more vrtrain processes (launch, study). It is
// "/proc/self/exe" itself, not the path it points to: that still execs this build when a rebuild has replaced
// the file on disk since this process started. Throws where /proc is not mounted.
std::string self_executable();

struct Registration {
  Registration(std::string name, std::string summary, CommandFn run);
};

}  // namespace vr::cli
