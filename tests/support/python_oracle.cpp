#include "support/python_oracle.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vr::test {
namespace {

std::string oracle_env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

std::string oracle_command_prefix() {
  return "PYTHONPATH=" + oracle_env_or("VR_ORACLE_PYTHONPATH", "/opt/vr-oracle") + " " +
         oracle_env_or("VR_ORACLE_PYTHON", "/usr/bin/python3");
}

}  // namespace

std::optional<std::string> oracle_python() {
  static const std::optional<std::string> found = []() -> std::optional<std::string> {
    const std::string cmd = oracle_command_prefix() + " -c 'import torch, transformers, safetensors' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return oracle_command_prefix();
    return std::nullopt;
  }();
  return found;
}

std::string oracle_missing_message() {
  return "Python oracle not installed (needs torch + transformers 4.44.2 importable by `" + oracle_command_prefix() +
         "`); run scripts/oracle.sh, or set VR_ORACLE_PYTHON / VR_ORACLE_PYTHONPATH";
}

PythonResult run_oracle_python(const std::string& script_and_args, const std::string& log_dir) {
  PythonResult r;
  auto py = oracle_python();
  if (!py) {
    r.output = oracle_missing_message();
    return r;
  }
  std::filesystem::create_directories(log_dir);
  const std::string log = log_dir + "/python_log.txt";
  const std::string cmd = *py + " " + script_and_args + " >" + log + " 2>&1";
  int status = std::system(cmd.c_str());
  r.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

}  // namespace vr::test
