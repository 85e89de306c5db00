#include "vr/model/lora.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/shape_string.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/torch_pickle.h"
#include "vr/model/layout_names.h"
#include "vr/core/strings.h"

namespace fs = std::filesystem;

namespace vr::model {

namespace {

// PEFT's rule for a list of target names: exact full name, or a suffix at a dot boundary.
bool matches_target(const std::string& name, const std::string& target) {
  if (name == target) return true;
  if (starts_with(name, "vision_tower.") || starts_with(name, "multi_modal_projector.")) return false;
  return ends_with(name, "." + target);
}

bool lora_param_name(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

std::shared_ptr<LoraAdapterImpl> adapter_of(const torch::nn::Module& m) {
  for (const auto& kv : m.named_children())
    if (kv.key() == "lora") return std::dynamic_pointer_cast<LoraAdapterImpl>(kv.value());
  return nullptr;
}

std::map<std::string, std::shared_ptr<torch::nn::LinearImpl>> linears(const torch::nn::Module& root) {
  std::map<std::string, std::shared_ptr<torch::nn::LinearImpl>> out;
  for (const auto& kv : root.named_modules("", /*include_self=*/false)) {
    const auto& name = kv.key();
    if (ends_with(name, ".lora_A") || ends_with(name, ".lora_B")) continue;
    if (auto lin = std::dynamic_pointer_cast<torch::nn::LinearImpl>(kv.value())) out[name] = lin;
  }
  return out;
}

// Attaches an adapter of rank r to `lin`; A initialised Kaiming-uniform (a = √5), B zeros.
void attach(const std::string& name, torch::nn::LinearImpl& lin, int64_t r, double scaling, double dropout,
            c10::optional<at::Generator> gen) {
  VR_CHECK(!adapter_of(lin), "LoRA: module '{}' already has an adapter", name);
  const auto& w = lin.weight;  // [out,in]
  const int64_t out_f = w.size(0), in_f = w.size(1);
  auto opts = torch::nn::LinearOptions(in_f, r).bias(false);
  torch::nn::Linear a(opts), b(torch::nn::LinearOptions(r, out_f).bias(false));
  {
    torch::NoGradGuard no_grad;
    // kaiming_uniform_(a=√5): gain √(2/(1+5)), bound = gain·√3/√in = 1/√in.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_f));
    a->weight.uniform_(-bound, bound, gen);
    b->weight.zero_();
  }
  a->to(w.device(), w.scalar_type());
  b->to(w.device(), w.scalar_type());
  lin.register_module("lora_A", a);
  lin.register_module("lora_B", b);
  auto adapter = LoraAdapter(a, b, scaling, dropout);
  adapter->train(lin.is_training());
  lin.register_module("lora", adapter);
}

}  // namespace

// ---- config -----------------------------------------------------------------------------------------------

nlohmann::json LoraConfig::to_peft_json() const {
  nlohmann::json j;
  j["peft_type"] = "LORA";
  j["task_type"] = task_type;
  j["r"] = r;
  if (alpha == std::floor(alpha)) j["lora_alpha"] = static_cast<int64_t>(alpha); else j["lora_alpha"] = alpha;
  j["lora_dropout"] = dropout;
  j["target_modules"] = target_modules;
  j["bias"] = "none";
  j["base_model_name_or_path"] = base_model_name_or_path;
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  if (modules_to_save.empty()) j["modules_to_save"] = nullptr; else j["modules_to_save"] = modules_to_save;
  j["layers_to_transform"] = nullptr;
  j["layers_pattern"] = nullptr;
  j["rank_pattern"] = nlohmann::json::object();
  j["alpha_pattern"] = nlohmann::json::object();
  j["revision"] = nullptr;
  return j;
}

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j) {
  LoraConfig c;
  try {
    VR_CHECK(j.value("peft_type", std::string("LORA")) == "LORA", "peft_type '{}' is not LORA",
             j.value("peft_type", std::string()));
    VR_CHECK(j.value("bias", std::string("none")) == "none", "bias '{}' is not supported (none)",
             j.value("bias", std::string()));
    VR_CHECK(!j.value("use_dora", false), "DoRA adapters are not supported");
    VR_CHECK(!j.contains("rank_pattern") || j["rank_pattern"].is_null() || j["rank_pattern"].empty(),
             "rank_pattern is not supported");
    VR_CHECK(!j.contains("alpha_pattern") || j["alpha_pattern"].is_null() || j["alpha_pattern"].empty(),
             "alpha_pattern is not supported");
    c.r = j.at("r").get<int64_t>();
    c.alpha = j.at("lora_alpha").get<double>();
    c.dropout = j.value("lora_dropout", 0.0);
    if (j.contains("target_modules") && j["target_modules"].is_array())
      c.target_modules = j["target_modules"].get<std::vector<std::string>>();
    if (j.contains("task_type") && j["task_type"].is_string()) c.task_type = j["task_type"];
    if (j.contains("modules_to_save") && j["modules_to_save"].is_array())
      c.modules_to_save = j["modules_to_save"].get<std::vector<std::string>>();
    if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
      c.base_model_name_or_path = j["base_model_name_or_path"];
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("adapter_config.json: {}", e.what());
  }
  VR_CHECK(c.r > 0, "adapter_config.json: r must be positive, got {}", c.r);
  return c;
}

// ---- the adapter --------------------------------------------------------------------------------------------

LoraAdapterImpl::LoraAdapterImpl(torch::nn::Linear a, torch::nn::Linear b, double s, double p)
    : lora_A(std::move(a)), lora_B(std::move(b)), scaling(s), dropout(p) {}

at::Tensor LoraAdapterImpl::delta(const at::Tensor& x) {
  auto h = x.to(lora_A->weight.scalar_type());
  if (dropout > 0 && is_training()) h = torch::dropout(h, dropout, /*train=*/true);
  return lora_B(lora_A(h)) * scaling;
}

std::vector<std::string> apply_lora(torch::nn::Module& root, const LoraConfig& c, int64_t seed) {
  VR_CHECK(c.r > 0, "LoRA: r must be positive, got {}", c.r);
  VR_CHECK(c.dropout >= 0 && c.dropout < 1, "LoRA: dropout must be in [0, 1), got {}", c.dropout);
  VR_CHECK(!c.target_modules.empty(), "LoRA: no target_modules given");
  auto all = linears(root);
  for (const auto& t : c.target_modules) {
    bool any = false;
    for (const auto& kv : all) any = any || matches_target(kv.first, t);
    VR_CHECK(any, "LoRA: target module '{}' matches no Linear of this model", t);
  }
  c10::optional<at::Generator> gen;
  if (seed >= 0) gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  std::vector<std::string> wrapped;
  for (auto& [name, lin] : all) {  // sorted by name: deterministic initialisation order
    bool hit = false;
    for (const auto& t : c.target_modules) hit = hit || matches_target(name, t);
    if (!hit) continue;
    attach(name, *lin, c.r, c.scaling(), c.dropout, gen);
    wrapped.push_back(name);
  }
  VR_CHECK(!wrapped.empty(), "LoRA: no Linear module matches target_modules (first: '{}')", c.target_modules.front());
  return wrapped;
}

std::vector<std::string> visual_region_lora_targets(const std::vector<int64_t>& layers, const std::string& prefix) {
  static const char* kProjections[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                       "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  std::vector<std::string> out;
  for (int64_t l : layers)
    for (const char* p : kProjections) out.push_back(prefix + std::to_string(l) + "." + p);
  return out;
}

// ---- merge ---------------------------------------------------------------------------------------------------

static void merge_all(torch::nn::Module& root, bool merge) {
  torch::NoGradGuard no_grad;
  for (auto& [name, lin] : linears(root)) {
    auto adapter = adapter_of(*lin);
    if (!adapter || adapter->merged == merge) continue;
    auto delta = torch::matmul(adapter->lora_B->weight.to(torch::kFloat), adapter->lora_A->weight.to(torch::kFloat)) *
                 adapter->scaling;  // [out,in]
    auto w32 = lin->weight.to(torch::kFloat);
    lin->weight.copy_(merge ? w32 + delta : w32 - delta);
    adapter->merged = merge;
  }
}

void merge_lora(torch::nn::Module& root) { merge_all(root, true); }
void unmerge_lora(torch::nn::Module& root) { merge_all(root, false); }

StateDict lora_state_dict(const torch::nn::Module& root) {
  StateDict out;
  for (const auto& kv : root.named_parameters())
    if (ends_with(kv.key(), ".lora_A.weight") || ends_with(kv.key(), ".lora_B.weight"))
      out[kv.key()] = kv.value().detach();
  return out;
}

std::vector<std::string> lora_modules(const torch::nn::Module& root) {
  std::vector<std::string> out;
  for (const auto& [name, lin] : linears(root))
    if (adapter_of(*lin)) out.push_back(name);
  return out;
}

// ---- PEFT files -----------------------------------------------------------------------------------------------

void save_peft_adapter(const torch::nn::Module& root, const LoraConfig& config, const std::string& dir) {
  auto tensors = lora_state_dict(root);
  VR_CHECK(!tensors.empty(), "save_peft_adapter: the model has no LoRA adapters");
  for (const auto& name : lora_modules(root)) {
    auto adapter = adapter_of(*linears(root).at(name));
    VR_CHECK(!adapter->merged, "save_peft_adapter: adapter '{}' is merged into its weights; unmerge first", name);
  }
  StateDict prefixed;
  for (auto& [name, t] : tensors) prefixed[hf_to_peft_name(name)] = t;
  for (const auto& module : config.modules_to_save) {
    size_t stored = 0;
    for (const auto& kv : root.named_parameters())
      if (starts_with(kv.key(), module + ".") && !lora_param_name(kv.key())) {
        prefixed[hf_to_peft_name(kv.key())] = kv.value().detach();
        ++stored;
      }
    VR_CHECK(stored > 0, "save_peft_adapter: modules_to_save entry '{}' names no parameters of the model", module);
  }
  LoraConfig c = config;
  c.target_modules = lora_modules(root);
  fs::create_directories(dir);
  save_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), prefixed);
  atomic_write_file((fs::path(dir) / "adapter_config.json").string(), c.to_peft_json().dump(2) + "\n");
}

LoraConfig load_peft_adapter(torch::nn::Module& root, const std::string& dir) {
  try {
    const auto cfg_path = fs::path(dir) / "adapter_config.json";
    VR_CHECK(fs::exists(cfg_path), "{}: missing", cfg_path.string());
    auto config = LoraConfig::from_peft_json(read_json_file(cfg_path.string()));
    const auto st = fs::path(dir) / "adapter_model.safetensors";
    const auto bin = fs::path(dir) / "adapter_model.bin";
    StateDict tensors = fs::exists(st) ? load_safetensors(st.string()) : load_torch_pickle(bin.string());

    auto all = linears(root);
    auto params = root.named_parameters();
    // module name → {A, B}
    std::map<std::string, std::pair<at::Tensor, at::Tensor>> per_module;
    std::map<std::string, at::Tensor> saved_whole;  // parameters of modules_to_save, by name in `root`
    for (auto& [key, t] : tensors) {
      const std::string name = peft_to_hf_name(key);
      const bool is_a = ends_with(name, ".lora_A.weight"), is_b = ends_with(name, ".lora_B.weight");
      if (!is_a && !is_b && params.contains(name) &&
          std::any_of(config.modules_to_save.begin(), config.modules_to_save.end(),
                      [&](const std::string& m) { return starts_with(name, m + "."); })) {
        VR_CHECK(params[name].sizes() == t.sizes(), "{}: tensor '{}' has shape {}, the model's parameter {}", dir, key,
                 vr::shape_string(t.sizes()), vr::shape_string(params[name].sizes()));
        saved_whole[name] = t;
        continue;
      }
      VR_CHECK(is_a || is_b, "{}: tensor '{}' is not a LoRA A/B weight", dir, key);
      std::string module = name.substr(0, name.size() - std::string(".lora_A.weight").size());
      if (!all.count(module)) {  // original LLaVA names (model.layers.*) on a llava-hf model
        auto mapped = llava_to_hf_name(module + ".weight");
        if (!mapped.empty()) mapped = mapped.substr(0, mapped.size() - std::string(".weight").size());
        VR_CHECK(all.count(mapped), "{}: LoRA tensor '{}' names module '{}', which is not a Linear of this model", dir,
                 key, module);
        module = mapped;
      }
      (is_a ? per_module[module].first : per_module[module].second) = t;
    }
    VR_CHECK(!per_module.empty(), "{}: no LoRA tensors", dir);
    config.target_modules.clear();
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : saved_whole) params[name].copy_(t);
    for (auto& [module, ab] : per_module) {
      auto& [a, b] = ab;
      VR_CHECK(a.defined() && b.defined(), "{}: module '{}' lacks its lora_A or lora_B weight", dir, module);
      auto& lin = *all.at(module);
      VR_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(0) == config.r && b.size(1) == config.r &&
                   a.size(1) == lin.weight.size(1) && b.size(0) == lin.weight.size(0),
               "{}: module '{}': lora_A {} / lora_B {} do not fit r={} and weight {}", dir, module,
               vr::shape_string(a.sizes()), vr::shape_string(b.sizes()), config.r, vr::shape_string(lin.weight.sizes()));
      attach(module, lin, config.r, config.scaling(), config.dropout, c10::nullopt);
      auto adapter = adapter_of(lin);
      adapter->lora_A->weight.copy_(a);
      adapter->lora_B->weight.copy_(b);
      config.target_modules.push_back(module);
    }
    return config;
  } catch (const Error&) {
    rethrow_with_context("loading LoRA adapter '" + dir + "'");
  }
}

}  // namespace vr::model
