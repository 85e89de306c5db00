// What every `vrtrain eval` task writes next to its outputs, and what `vrtrain compare` reads back:
//   <output>.summary.json = {"model": DIR, "model_id": NAME, "task": "vqa", "data": [{"path", "sha256"}],
//                            "n": 120, "metrics": {...}, "seconds": 12.3, "outputs": [...], "created": ISO}
// `metrics` is task-specific (accuracy, per-category accuracy, loss, perplexity ...) but always flat numbers at
// its top level, so a table can show them without knowing the task.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vr::eval {

struct DataFile {
  std::string path;
  std::string sha256;
};

struct EvalSummary {
  std::string model;     // checkpoint directory as given
  std::string model_id;  // LLaVA's get_model_name_from_path(model)
  std::string task;      // loss | vqa | mc | text-mc | shapes
  std::vector<DataFile> data;
  int64_t n = 0;         // records scored (vqa: answers in the answer file)
  nlohmann::json metrics = nlohmann::json::object();
  double seconds = 0;
  std::vector<std::string> outputs;  // files written by the task (answers, per-record results)

  nlohmann::json to_json() const;
  static EvalSummary from_json(const nlohmann::json& j);  // vr::Error on a missing key
  void write(const std::string& path) const;              // atomically, pretty-printed
};

// Data file with its checksum (vr::Error naming the file when unreadable).
DataFile describe_data_file(const std::string& path);

// LLaVA's get_model_name_from_path: the last path component, or "<parent>_<last>" when the last one starts
// with "checkpoint-". Trailing slashes are ignored.
std::string model_name_from_path(const std::string& path);

// Where a task's summary goes: "<output without .jsonl/.json>.summary.json", or "<dir>/<task>.summary.json"
// when `output` is a directory.
std::string summary_path_for(const std::string& output, const std::string& task);

}  // namespace vr::eval
