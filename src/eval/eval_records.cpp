#include "vr/eval/eval_records.h"

#include <filesystem>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"

namespace fs = std::filesystem;

namespace vr::eval {

std::vector<Record> read_records(const std::string& path) {
  const std::string text = vr::read_file(path);
  std::vector<Record> out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  VR_CHECK(first != std::string::npos, "{}: the file holds no record", path);
  if (text[first] == '[') {
    nlohmann::json list = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    VR_CHECK(list.is_array(), "{}: not a valid JSON list", path);
    for (size_t i = 0; i < list.size(); ++i) {
      VR_CHECK(list[i].is_object(), "{}: record {} is not a JSON object", path, i + 1);
      out.push_back({std::move(list[i]), static_cast<int64_t>(i + 1), static_cast<int64_t>(i)});
    }
  } else {
    int64_t line_no = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      ++line_no;
      const std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      VR_CHECK(!j.is_discarded(), "{}: line {}: not valid JSON", path, line_no);
      VR_CHECK(j.is_object(), "{}: line {}: the record is not a JSON object", path, line_no);
      out.push_back({std::move(j), line_no, static_cast<int64_t>(out.size())});
    }
  }
  VR_CHECK(!out.empty(), "{}: the file holds no record", path);
  return out;
}

std::string id_key(const nlohmann::json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

std::string record_problem(const std::string& path, const Record& r, const std::string& problem) {
  for (const char* k : {"question_id", "id", "index"}) {
    auto it = r.value.find(k);
    if (it != r.value.end() && (it->is_string() || it->is_number_integer()))
      return fmt::format("{}: line {} (id '{}'): {}", path, r.line, id_key(*it), problem);
  }
  return fmt::format("{}: line {}: {}", path, r.line, problem);
}

nlohmann::json record_id(const std::string& path, const Record& r, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    auto it = r.value.find(k);
    if (it == r.value.end()) continue;
    if (!it->is_string() && !it->is_number_integer())
      throw vr::Error(record_problem(path, r, fmt::format("'{}' must be a string or an integer", k)));
    return *it;
  }
  std::string names;
  for (const auto& k : keys) names += (names.empty() ? "'" : " or '") + k + "'";
  throw vr::Error(record_problem(path, r, "the question has no id (" + names + ")"));
}

std::string string_field(const std::string& path, const Record& r, const std::string& key) {
  auto it = r.value.find(key);
  if (it == r.value.end() || it->is_null()) throw vr::Error(record_problem(path, r, "no '" + key + "' field"));
  if (!it->is_string()) throw vr::Error(record_problem(path, r, "'" + key + "' must be a string"));
  return it->get<std::string>();
}

std::string optional_string(const std::string& path, const Record& r, const std::string& key) {
  auto it = r.value.find(key);
  if (it == r.value.end() || it->is_null()) return "";
  if (!it->is_string()) throw vr::Error(record_problem(path, r, "'" + key + "' must be a string"));
  return it->get<std::string>();
}

std::string resolve_image(const std::string& path, const Record& r, const std::string& image_folder,
                          const std::string& image) {
  const std::string full = image_folder.empty() ? image : (fs::path(image_folder) / image).string();
  if (!fs::is_regular_file(full))
    throw vr::Error(record_problem(path, r, fmt::format("image '{}' does not exist", full)));
  return full;
}

}  // namespace vr::eval
