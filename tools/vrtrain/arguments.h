// One argument reader for every vrtrain subcommand, on CLI11 (Debian's libcli11-dev, header-only).
// Every command gets the same --help layout
//   vrtrain <command>: <what it does>          (the description: first line, then paragraphs)
//
//   Usage: vrtrain <command> ...               (set_usage, or CLI11's "[OPTIONS]" line)
//
//   Options:
//     -h,--help                   print this help and exit
//     --flag VALUE                ...
//
//   <footer: formats, examples>
// the same error line for a bad flag
//   vrtrain <command>: error: <what> (see `vrtrain <command> --help`)
// and the same exit codes: 0 done, 1 runtime error (main prints it), 2 bad usage.
//
// Typical command:
//   CLI::App app = make_app("prune", "vrtrain prune: remove decoder layers ...");
//   std::string model; app.add_option("--model", model, "checkpoint directory")->required();
//   ConfigFlags config; add_config_flags(app, config);           // --config FILE, --set key=value
//   if (auto code = parse(app, args)) return *code;              // --help or a bad flag end here
//   vr::train::RunConfig cfg = load_run_config(config);
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace vr::train {
struct RunConfig;
}

namespace vr::cli {

constexpr int kExitUsage = 2;  // a bad flag, a missing required flag, an unknown option

// An app named "vrtrain <command>" with vrtrain's help formatter. `description` is printed first, its first
// line reading "vrtrain <command>: ..." (prefixed when it does not); `footer` (examples, file formats) after
// the option list.
CLI::App make_app(const std::string& command, const std::string& description, const std::string& footer = "");

// Replaces the generated "Usage: vrtrain <command> [OPTIONS]" line by `usage` (one or more lines, each a form
// of the command, e.g. "vrtrain bench --model DIR [--batch B]").
void set_usage(CLI::App& app, const std::string& usage);

// Parses args (without program and command names). Returns nullopt to go on, or the exit code to return now:
// 0 after --help (help printed to stdout), kExitUsage after a usage error (one line on stderr, as above).
std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args);

// A usage error found after parse() (flags that exclude each other, a missing command): prints the error line
// and returns kExitUsage.
int usage_error(const CLI::App& app, const std::string& what);

// An integer flag; a value that is not a whole integer is a usage error "--layers needs an integer, got '8x'".
CLI::Option* add_int_option(CLI::App& app, const std::string& name, int64_t& value, const std::string& help);

// --config FILE (repeatable: later files override earlier ones) and --set key=value (repeatable), read into a
// vr::train::RunConfig the same way for every command that runs a model.
struct ConfigFlags {
  std::vector<std::string> files;
  std::vector<std::string> sets;
};
void add_config_flags(CLI::App& app, ConfigFlags& flags);
// Loads the files in order, then the --set overrides and `extra` (flag shorthands such as
// "selection.strategy=X" that a command adds; they win) as one source (vr/train/run_config.h: a layer list
// means the manual strategy), and validates.
vr::train::RunConfig load_run_config(const ConfigFlags& flags, const std::vector<std::string>& extra = {});
// The same over `cfg` (a command's own defaults, which the files and flags override).
void apply_config_flags(vr::train::RunConfig& cfg, const ConfigFlags& flags, const std::vector<std::string>& extra = {});

}  // namespace vr::cli
