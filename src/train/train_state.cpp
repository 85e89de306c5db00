#include "vr/train/train_state.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <vector>

#include <torch/nn/module.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <ATen/core/Generator.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include "vr/core/torch_compat.h"

#include "vr/core/tensor_files.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
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

std::string save_train_checkpoint(const std::string& output_dir, int64_t step, const TrainCheckpoint& ckpt,
                                  int64_t keep_last) {
  fs::path root = fs::path(output_dir) / "checkpoints";
  fs::create_directories(root);
  fs::path final_dir = root / fmt::format("step_{:08d}", step);
  // Everything is written into a temp sibling and renamed into place (fsync'ed): a step_N directory is
  // always complete. state.json last, so its presence marks a complete checkpoint even for older readers.
  write_directory_atomically(final_dir.string(), [&](const std::string& dir) {
    const fs::path tmp(dir);
    save_safetensors((tmp / "trainable.safetensors").string(), ckpt.trainable);
    save_safetensors((tmp / "optimizer.safetensors").string(), ckpt.optimizer);
    save_safetensors((tmp / "rng.safetensors").string(), ckpt.rng);
    atomic_write_file((tmp / "config.yaml").string(), ckpt.config_yaml);
    nlohmann::json state = ckpt.state;
    state["config_yaml"] = ckpt.config_yaml;
    atomic_write_file((tmp / "state.json").string(), state.dump(2));
  });
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
    c.state = nlohmann::json::parse(read_file((d / "state.json").string()));
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("checkpoint '{}': state.json is not valid JSON ({})", dir, e.what());
  }
  c.config_yaml = c.state.value("config_yaml", "");
  auto open = [&](const char* file) {
    fs::path p = d / file;
    VR_CHECK(fs::exists(p), "checkpoint '{}': missing {}", dir, file);
    return std::make_shared<const SafetensorsFile>(p.string());
  };
  // Views on the mappings (each view keeps its mapping alive; a checkpoint deleted by keep_last meanwhile stays
  // readable). The generator states are small and restored at once: copies.
  c.trainable_file = open("trainable.safetensors");
  c.optimizer_file = open("optimizer.safetensors");
  c.trainable = c.trainable_file->tensors();
  c.optimizer = c.optimizer_file->tensors();
  for (auto& kv : open("rng.safetensors")->tensors()) c.rng[kv.first] = kv.second.clone();
  return c;
}

void TrainCheckpoint::release_trainable(const std::string& name) const {
  if (trainable_file) trainable_file->release(name);
}

void TrainCheckpoint::release_optimizer(const std::string& key) const {
  if (optimizer_file) optimizer_file->release(key);
}

void load_trainable_weights(torch::nn::Module& model, const TrainCheckpoint& c, const std::string& dir) {
  torch::NoGradGuard no_grad;
  for (auto& kv : model.named_parameters()) {
    if (!kv.value().requires_grad()) continue;
    auto it = c.trainable.find(kv.key());
    VR_CHECK(it != c.trainable.end(), "resume from '{}': trainable tensor '{}' is not in the checkpoint", dir,
             kv.key());
    VR_CHECK(it->second.sizes() == kv.value().sizes(), "resume from '{}': tensor '{}' has another shape", dir,
             kv.key());
    kv.value().copy_(it->second);  // to the parameter's device and dtype
    c.release_trainable(kv.key());
  }
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
