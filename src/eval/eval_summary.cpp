#include "vr/eval/eval_summary.h"

#include <ctime>
#include <filesystem>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/eval/checksum.h"

namespace fs = std::filesystem;

namespace vr::eval {

nlohmann::json EvalSummary::to_json() const {
  nlohmann::json d = nlohmann::json::array();
  for (const auto& f : data) d.push_back({{"path", f.path}, {"sha256", f.sha256}});
  char created[32];
  std::time_t now = std::time(nullptr);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return {{"model", model}, {"model_id", model_id}, {"task", task}, {"data", d},          {"n", n},
          {"metrics", metrics}, {"seconds", seconds}, {"outputs", outputs}, {"created", created}};
}

EvalSummary EvalSummary::from_json(const nlohmann::json& j) {
  EvalSummary s;
  try {
    s.model = j.at("model").get<std::string>();
    s.model_id = j.value("model_id", model_name_from_path(s.model));
    s.task = j.at("task").get<std::string>();
    for (const auto& f : j.at("data")) s.data.push_back({f.at("path").get<std::string>(), f.value("sha256", "")});
    s.n = j.at("n").get<int64_t>();
    s.metrics = j.at("metrics");
    s.seconds = j.value("seconds", 0.0);
    s.outputs = j.value("outputs", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("evaluation summary: {}", e.what());
  }
  return s;
}

void EvalSummary::write(const std::string& path) const { vr::atomic_write_file(path, to_json().dump(2) + "\n"); }

DataFile describe_data_file(const std::string& path) { return {path, sha256_file(path)}; }

std::string model_name_from_path(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  fs::path fp(p);
  const std::string last = fp.filename().string();
  if (last.rfind("checkpoint-", 0) == 0 && fp.has_parent_path())
    return fp.parent_path().filename().string() + "_" + last;
  return last;
}

std::string summary_path_for(const std::string& output, const std::string& task) {
  if (output.empty()) return "";
  if (fs::is_directory(output)) return (fs::path(output) / (task + ".summary.json")).string();
  std::string base = output;
  for (const char* ext : {".jsonl", ".json"}) {
    const std::string e = ext;
    if (base.size() > e.size() && base.compare(base.size() - e.size(), e.size(), e) == 0) {
      base.resize(base.size() - e.size());
      break;
    }
  }
  return base + ".summary.json";
}

}  // namespace vr::eval
