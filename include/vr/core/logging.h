// Logging for vrtrain: spdlog's default logger, writing to stderr (and optionally a run's log file).
//
//   vr::log::setup();                        // level from $VR_LOG_LEVEL, else "info"
//   vr::log::info("loaded {} tensors from {}", n, path);
//   vr::log::warn_once("bf16-cpu", "bf16 on CPU is slow");
//
// Levels: trace, debug, info, warn, error, off. Lines look like "2026-11-25 13:30:36 info  message".
#pragma once
#include <string>

#include <spdlog/spdlog.h>

namespace vr::log {

// Installs the stderr logger with vrtrain's pattern. `level` overrides $VR_LOG_LEVEL; an empty string means
// "use the environment, else info". Throws vr::Error for an unknown level name (listing the valid ones).
void setup(const std::string& level = "");
// Changes the level of every sink ("debug", "warn", ...); throws vr::Error for unknown names.
void set_level(const std::string& level);
// The current level's name.
std::string level_name();
// Also writes every line to `path` (appending; parent directories are created). Throws naming the file.
void add_file(const std::string& path);
// Prefixes lines with "[rank r] " (multi-process runs); -1 removes the prefix.
void set_rank(int rank);
// Logs `message` at warn level the first time `key` is seen in this process, never again.
void warn_once(const std::string& key, const std::string& message);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

}  // namespace vr::log
