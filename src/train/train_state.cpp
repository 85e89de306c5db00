#include "vr/train/train_state.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include "vr/core/torch_compat.h"

#include "vr/core/checkpoint.h"
#include "vr/core/error.h"
#include "vr/core/safetensors.h"

namespace fs = std::filesystem;

namespace vr::train {

static const std::regex kStepDir(R"(step_(\d+))");

static std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const std::string& output_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  fs::path root = fs::path(output_dir) / "checkpoints";
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, m, kStepDir) && fs::exists(e.path() / "state.json"))
      out.emplace_back(std::stoll(m[1].str()), e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

static std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  VR_CHECK(f.good(), "checkpoint: cannot read '{}'", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

static void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.close();
  VR_CHECK(f.good(), "checkpoint: cannot write '{}'", p.string());
}

std::string save_train_checkpoint(const std::string& output_dir, int64_t step, const TrainCheckpoint& ckpt,
                                  int64_t keep_last) {
  fs::path root = fs::path(output_dir) / "checkpoints";
  fs::create_directories(root);
  fs::path final_dir = root / fmt::format("step_{:08d}", step);
  fs::path tmp = root / fmt::format(".tmp-step_{:08d}", step);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  save_safetensors((tmp / "trainable.safetensors").string(), ckpt.trainable);
  save_safetensors((tmp / "optimizer.safetensors").string(), ckpt.optimizer);
  save_safetensors((tmp / "rng.safetensors").string(), ckpt.rng);
  write_text(tmp / "config.yaml", ckpt.config_yaml);
  nlohmann::json state = ckpt.state;
  state["config_yaml"] = ckpt.config_yaml;
  // state.json last: its presence marks a complete checkpoint.
  write_text(tmp / "state.json", state.dump(2));
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);  // atomic on one file system
  auto all = list_checkpoints(output_dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(1, keep_last)) < all.size(); ++i)
    fs::remove_all(all[i].second);
  return final_dir.string();
}

TrainCheckpoint load_train_checkpoint(const std::string& dir) {
  fs::path d(dir);
  VR_CHECK(fs::exists(d / "state.json"), "checkpoint '{}' is incomplete or not a checkpoint (no state.json)", dir);
  TrainCheckpoint c;
  try {
    c.state = nlohmann::json::parse(read_text(d / "state.json"));
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("checkpoint '{}': state.json is not valid JSON ({})", dir, e.what());
  }
  c.config_yaml = c.state.value("config_yaml", "");
  auto load = [&](const char* file) {
    fs::path p = d / file;
    VR_CHECK(fs::exists(p), "checkpoint '{}': missing {}", dir, file);
    TensorMap out;
    for (auto& kv : load_safetensors(p.string())) out[kv.first] = kv.second.clone();  // detach from the mapping
    return out;
  };
  c.trainable = load("trainable.safetensors");
  c.optimizer = load("optimizer.safetensors");
  c.rng = load("rng.safetensors");
  return c;
}

std::optional<std::string> latest_checkpoint(const std::string& output_dir) {
  auto all = list_checkpoints(output_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second.string();
}

TensorMap capture_rng_state() {
  TensorMap out;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    out["cpu"] = gen.get_state();
  }
  if (vr::compat::cuda_available()) {
    auto gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, 0));
    std::lock_guard<std::mutex> lock(gen.mutex());
    out["cuda"] = gen.get_state();
  }
  return out;
}

void restore_rng_state(const TensorMap& state) {
  auto it = state.find("cpu");
  VR_CHECK(it != state.end(), "checkpoint rng state: 'cpu' generator state is missing");
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(it->second);
  }
  it = state.find("cuda");
  if (it != state.end() && vr::compat::cuda_available()) {
    auto gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, 0));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(it->second);
  }
}

}  // namespace vr::train
