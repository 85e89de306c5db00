// Logging for vrtrain: one line per message to stderr (and optionally a run's log file), with a level
// threshold. Own implementation on fmt (no spdlog: its compiled library is tied to one fmt version, and
// LibTorch 2.x ships another).
//
//   vr::log::setup();                        // level from $VR_LOG_LEVEL, else "info"
//   vr::log::info("loaded {} tensors from {}", n, path);
//   vr::log::warn_once("bf16-cpu", "bf16 on CPU is slow");
//
// Levels: trace, debug, info, warn, error, off. Lines look like "2026-11-25 13:30:36 info  message".
#pragma once
#include <string>
#include <utility>

#include <fmt/format.h>

namespace vr::log {

enum class Level { trace, debug, info, warn, error, off };

// Resets logging to stderr only, without rank prefix. `level` overrides $VR_LOG_LEVEL; an empty string means
// "use the environment, else info". Throws vr::Error for an unknown level name (listing the valid ones).
void setup(const std::string& level = "");
// Changes the threshold ("debug", "warn", ...); throws vr::Error for unknown names.
void set_level(const std::string& level);
// The current threshold's name.
std::string level_name();
// True when messages at `level` are written (lets callers skip building expensive messages).
bool enabled(Level level);
// Also writes every line to `path` (appending, flushed per line; parent directories are created).
void add_file(const std::string& path);
// Prefixes lines with "[rank r] " (multi-process runs); -1 removes the prefix.
void set_rank(int rank);
// Writes one message at `level` if enabled (thread-safe; lines never interleave).
void write(Level level, const std::string& message);
// Logs `message` at warn level the first time `key` is seen in this process, never again.
void warn_once(const std::string& key, const std::string& message);

template <typename... Args>
void trace(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::trace)) write(Level::trace, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::debug)) write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::info)) write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::warn)) write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::error)) write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace vr::log
