// Subcommands of the vrtrain executable. Each lives in its own cmd_<name>.cpp and registers itself:
//   static vr::cli::Registration reg{"forward", "Run a checkpoint on tensors from a file", &run_forward};
#pragma once
#include <cstdint>
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

struct Registration {
  Registration(std::string name, std::string summary, CommandFn run);
};

// The whole of `value` as an integer, else a vr::Error "<flag> needs an integer, got '<value>'" (main prints it
// after "vrtrain <command>: error: ").
int64_t parse_int_arg(const std::string& flag, const std::string& value);

}  // namespace vr::cli
