// Typed configuration from YAML files and `--set a.b=value` overrides.
// A config struct derives from Bindable and lists its fields once in bind(); that single list drives
// loading, validation (unknown keys name the closest valid key; wrong types name the path), overrides,
// the resolved-config dump saved with every run, and the option table of --help.
//
//   struct TrainConfig : vr::Bindable {
//     double lr = 2e-5; int64_t max_steps = 100;
//     void bind(vr::ConfigBinder& b) override {
//       b.field("train.lr", lr, "peak learning rate");
//       b.field("train.max_steps", max_steps, "optimizer steps (0: one epoch)");
//     }
//   };
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vr {

class ConfigBinder {
 public:
  virtual ~ConfigBinder() = default;
  // `path` is the dotted key ("train.lr"); `help` one line for --help.
  virtual void field(const std::string& path, bool& v, const std::string& help) = 0;
  virtual void field(const std::string& path, int64_t& v, const std::string& help) = 0;
  virtual void field(const std::string& path, double& v, const std::string& help) = 0;
  virtual void field(const std::string& path, std::string& v, const std::string& help) = 0;
  virtual void field(const std::string& path, std::vector<int64_t>& v, const std::string& help) = 0;
  virtual void field(const std::string& path, std::vector<std::string>& v, const std::string& help) = 0;
  // A string restricted to `allowed` (error lists them and names the closest).
  virtual void choice(const std::string& path, std::string& v, const std::vector<std::string>& allowed,
                      const std::string& help) = 0;
};

struct Bindable {
  virtual ~Bindable() = default;
  virtual void bind(ConfigBinder& b) = 0;
};

// Applies a YAML file over the current values. Errors (vr::Error) name the file and line, e.g.
//   "cfg.yaml:3: unknown key 'train.lrr' (did you mean 'train.lr'?)"
//   "cfg.yaml:4: train.lr: expected a number, got \"fast\""
void load_yaml_config(Bindable& cfg, const std::string& file);
// Applies YAML text (as if from a file named `source`).
void load_yaml_string(Bindable& cfg, const std::string& yaml, const std::string& source = "<string>");
// Applies "a.b=value" overrides (value parsed as a YAML scalar or flow list: "[1, 5, 9]" or "1,5,9").
void apply_overrides(Bindable& cfg, const std::vector<std::string>& assignments);
// The resolved config as YAML (nested maps, every field), for printing and saving with a run.
std::string dump_yaml(Bindable& cfg);
// One line per field: path, type, default value, help. For --help.
std::string describe_fields(Bindable& cfg);
// Closest candidate by edit distance ("" when none is reasonably close).
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace vr
