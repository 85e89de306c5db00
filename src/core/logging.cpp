#include "vr/core/logging.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <vector>

#include "vr/core/error.h"

namespace vr::log {

namespace {

constexpr const char* kNames[] = {"trace", "debug", "info", "warn", "error", "off"};

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mutex;  // guards everything below and serialises writes
int g_rank = -1;
std::vector<std::FILE*> g_files;
std::set<std::string> g_once;

Level parse_level(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(Level::off); ++i)
    if (name == kNames[i]) return static_cast<Level>(i);
  if (name == "warning") return Level::warn;
  VR_FAIL("unknown log level '{}' (expected trace, debug, info, warn, error or off)", name);
}

void close_files() {
  for (std::FILE* f : g_files) std::fclose(f);
  g_files.clear();
}

}  // namespace

void setup(const std::string& level) {
  std::string name = level;
  if (name.empty()) {
    const char* env = std::getenv("VR_LOG_LEVEL");
    name = env && *env ? env : "info";
  }
  const Level lvl = parse_level(name);  // validate before changing anything
  std::lock_guard<std::mutex> lock(g_mutex);
  close_files();
  g_rank = -1;
  g_level = static_cast<int>(lvl);
}

void set_level(const std::string& level) { g_level = static_cast<int>(parse_level(level)); }

std::string level_name() { return kNames[g_level.load()]; }

bool enabled(Level level) { return level != Level::off && static_cast<int>(level) >= g_level.load(); }

void add_file(const std::string& path) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::FILE* f = std::fopen(path.c_str(), "ab");
  VR_CHECK(f, "{}: cannot open log file: {}", path, std::strerror(errno));
  std::lock_guard<std::mutex> lock(g_mutex);
  g_files.push_back(f);
}

void set_rank(int rank) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_rank = rank;
}

void write(Level level, const std::string& message) {
  if (!enabled(level)) return;
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::lock_guard<std::mutex> lock(g_mutex);
  // The whole line is formatted first and written with one call per sink, so threads never interleave.
  const std::string line =
      fmt::format("{} {:<5} {}{}\n", stamp, kNames[static_cast<int>(level)],
                  g_rank >= 0 ? fmt::format("[rank {}] ", g_rank) : std::string(), message);
  std::fwrite(line.data(), 1, line.size(), stderr);
  for (std::FILE* f : g_files) {
    std::fwrite(line.data(), 1, line.size(), f);
    std::fflush(f);  // log files are read live (tail -f) and after crashes
  }
}

void warn_once(const std::string& key, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_once.insert(key).second) return;
  }
  write(Level::warn, message);
}

}  // namespace vr::log
