#include "vr/core/jsonl.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/core/file_io.h"

namespace vr {

JsonlWriter::JsonlWriter(const std::string& path, bool truncate) : path_(path) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  file_ = std::fopen(path.c_str(), truncate ? "wb" : "a+b");
  VR_CHECK(file_, "{}: cannot open for writing: {}", path, std::strerror(errno));
  if (!truncate && std::fseek(file_, -1, SEEK_END) == 0) {
    const int last = std::fgetc(file_);
    std::fseek(file_, 0, SEEK_END);
    if (last != '\n' && last != EOF) std::fputc('\n', file_);
  }
}

JsonlWriter::~JsonlWriter() {
  if (file_) std::fclose(file_);
}

// Both overloads replace invalid UTF-8 instead of throwing mid-run over a bad string in a metric name.
void JsonlWriter::write(const nlohmann::json& record) {
  append_line(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void JsonlWriter::write_ordered(const nlohmann::ordered_json& record) {
  append_line(record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

void JsonlWriter::append_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
  VR_CHECK(ok, "{}: write failed: {}", path_, std::strerror(errno));
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  for (size_t line_no = 1; pos < text.size(); ++line_no) {
    size_t nl = text.find('\n', pos);
    const bool torn = nl == std::string::npos;
    const std::string line = text.substr(pos, torn ? std::string::npos : nl - pos);
    pos = torn ? text.size() : nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      if (torn) break;
      VR_FAIL("{}:{}: invalid JSON line: {}", path, line_no, e.what());
    }
  }
  return out;
}

}  // namespace vr
