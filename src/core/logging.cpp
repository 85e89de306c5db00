#include "vr/core/logging.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "vr/core/error.h"

namespace vr::log {

namespace {

std::mutex g_mutex;  // guards logger replacement and the once-keys
int g_rank = -1;

std::string pattern() {
  // %^...%$ colours the level on terminals; %-5l pads it so messages line up.
  return g_rank >= 0 ? fmt::format("%Y-%m-%d %H:%M:%S %^%-5l%$ [rank {}] %v", g_rank)
                     : std::string("%Y-%m-%d %H:%M:%S %^%-5l%$ %v");
}

spdlog::level::level_enum parse_level(const std::string& name) {
  static const std::pair<const char*, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},   {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"off", spdlog::level::off}};
  for (const auto& [n, l] : kLevels)
    if (name == n) return l;
  VR_FAIL("unknown log level '{}' (expected trace, debug, info, warn, error or off)", name);
}

}  // namespace

void setup(const std::string& level) {
  std::string name = level;
  if (name.empty()) {
    const char* env = std::getenv("VR_LOG_LEVEL");
    name = env && *env ? env : "info";
  }
  const auto lvl = parse_level(name);  // validate before touching the logger
  std::lock_guard<std::mutex> lock(g_mutex);
  auto logger = std::make_shared<spdlog::logger>("vr", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern(pattern());
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void set_level(const std::string& level) { spdlog::default_logger()->set_level(parse_level(level)); }

std::string level_name() {
  auto v = spdlog::level::to_string_view(spdlog::default_logger()->level());
  return std::string(v.data(), v.size());
}

void add_file(const std::string& path) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  } catch (const spdlog::spdlog_ex& e) {
    VR_FAIL("{}: cannot open log file: {}", path, e.what());
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  sink->set_pattern(pattern());
  spdlog::default_logger()->sinks().push_back(sink);
  // Log files are read while a run is alive (tail -f) and after crashes: flush every line.
  spdlog::default_logger()->flush_on(spdlog::level::trace);
}

void set_rank(int rank) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_rank = rank;
  spdlog::default_logger()->set_pattern(pattern());
}

void warn_once(const std::string& key, const std::string& message) {
  static std::set<std::string> seen;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!seen.insert(key).second) return;
  }
  spdlog::warn("{}", message);
}

}  // namespace vr::log
