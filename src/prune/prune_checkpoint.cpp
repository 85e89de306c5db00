// Pruned checkpoints (see prune_checkpoint.h). The weights are renamed, never recomputed: a tensor of a kept layer
// is written from the source's bytes (a zero-copy view of the memory-mapped safetensors).
#include "vr/prune/prune_checkpoint.h"

#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/safetensors.h"
#include "vr/core/tensor_files.h"
#include "vr/model/layouts.h"
#include "vr/prune/json_text_edit.h"
#include "vr/selection/scores.h"

namespace vr::prune {

namespace fs = std::filesystem;

namespace {

// Where num_hidden_layers of the decoder lives in config.json.
std::vector<std::string> layers_key_path(vr::model::LvlmLayout layout) {
  if (layout == vr::model::LvlmLayout::kLlavaHf) return {"text_config", "num_hidden_layers"};
  return {"num_hidden_layers"};
}

// The weight files a loader reads (vr/core/tensor_files.h): they are rewritten, never copied. Other tensor files
// (inputs, adapters) are copied like any other file.
bool is_weight_file(const std::string& name) {
  static const std::regex kWeights(R"((model|pytorch_model)(-\d+-of-\d+)?\.(safetensors|bin)(\.index\.json)?)");
  return std::regex_match(name, kWeights);
}

int64_t numel_of(const StateDict& sd) {
  int64_t n = 0;
  for (const auto& kv : sd) n += kv.second.numel();
  return n;
}

// Renames `<prefix>layers.<old>.<rest>` to `<prefix>layers.<new>.<rest>`; drops removed layers' tensors.
class LayerRenamer {
 public:
  LayerRenamer(std::string prefix, const std::vector<int64_t>& kept) : prefix_(std::move(prefix) + "layers.") {
    for (size_t j = 0; j < kept.size(); ++j) new_index_[kept[j]] = static_cast<int64_t>(j);
  }
  // "" = dropped.
  std::string operator()(const std::string& name) const {
    if (name.compare(0, prefix_.size(), prefix_) != 0) return name;
    const size_t dot = name.find('.', prefix_.size());
    VR_CHECK(dot != std::string::npos, "tensor '{}' has no name after its layer index", name);
    const int64_t old = std::stoll(name.substr(prefix_.size(), dot - prefix_.size()));
    auto it = new_index_.find(old);
    if (it == new_index_.end()) return "";
    return prefix_ + std::to_string(it->second) + name.substr(dot);
  }

 private:
  std::string prefix_;
  std::map<int64_t, int64_t> new_index_;
};

// One safetensors file → its pruned copy (same metadata). Returns elements before/after.
std::pair<int64_t, int64_t> prune_safetensors_file(const std::string& in, const std::string& out,
                                                   const LayerRenamer& rename, std::map<std::string, std::string>* map,
                                                   uint64_t* bytes) {
  vr::SafetensorsFile f(in);
  StateDict kept;
  int64_t before = 0;
  for (const auto& e : f.entries()) {
    at::Tensor t = f.tensor(e.name);
    before += t.numel();
    const std::string n = rename(e.name);
    if (n.empty()) continue;
    kept[n] = t;
    if (map) (*map)[n] = fs::path(out).filename().string();
    if (bytes) *bytes += e.end - e.begin;
  }
  if (!kept.empty()) vr::save_safetensors(out, kept, f.metadata().empty() ? std::map<std::string, std::string>{{"format", "pt"}} : f.metadata());
  return {before, numel_of(kept)};
}

}  // namespace

int64_t checkpoint_num_layers(const std::string& dir) {
  const auto layout = vr::model::detect_layout(dir);
  const nlohmann::json j = vr::load_config_json(dir);
  const nlohmann::json* node = &j;
  for (const auto& key : layers_key_path(layout)) {
    if (!node->is_object() || !node->contains(key) || (*node)[key].is_null()) return 32;  // LlamaConfig default
    node = &(*node)[key];
  }
  VR_CHECK(node->is_number_integer(), "{}/config.json: num_hidden_layers is not an integer", dir);
  return node->get<int64_t>();
}

PruneReport write_pruned_checkpoint(const std::string& src, const std::string& dst, const LayerChoice& choice,
                                    const nlohmann::json& extra) {
  VR_CHECK(fs::is_directory(src), "--model '{}' is not a directory", src);
  VR_CHECK(!dst.empty(), "no output directory given");
  VR_CHECK(!fs::exists(dst) || !fs::equivalent(src, dst), "the output directory '{}' is the source checkpoint itself",
           dst);
  const auto layout = vr::model::detect_layout(src);
  const int64_t L = checkpoint_num_layers(src);
  VR_CHECK(L == choice.num_layers, "{}: config.json has {} decoder layers, the layer choice was made for {}", src, L,
           choice.num_layers);

  PruneReport report;
  report.layout = vr::model::layout_name(layout);
  const int64_t kept_n = static_cast<int64_t>(choice.kept.size());

  write_directory_atomically(dst, [&](const std::string& tmp) {
    std::set<std::string> written;
    if (layout == vr::model::LvlmLayout::kLlava) {
      // Original LLaVA/Bunny → llava-hf: load (tower from mm_vision_tower or inside), drop layers, save.
      auto model = vr::model::load_lvlm(src);
      for (const auto& kv : vr::load_tensors(src)) report.parameters_before += kv.second.numel();
      model->language_model->keep_layers(choice.kept);
      vr::model::save_lvlm(model, tmp, fs::exists(fs::path(src) / "tokenizer.json") ? src : "");
      // save_lvlm writes the LVLM's config, which still counts the source's layers (keep_layers updates only the
      // language model's own copy).
      const std::string written_config = (fs::path(tmp) / "config.json").string();
      atomic_write_file(written_config, set_json_integer_in_text(read_file(written_config),
                                                                 {"text_config", "num_hidden_layers"}, kept_n,
                                                                 written_config));
      for (const auto& e : fs::directory_iterator(tmp)) {
        written.insert(e.path().filename().string());
        if (e.path().extension() == ".safetensors") {
          report.weight_files.push_back(e.path().filename().string());
          report.parameters_after += numel_of(vr::load_safetensors(e.path().string()));
        }
      }
      written.erase("generation_config.json");  // the source's own, when it has one, replaces the generated one
    } else {
      // Decoder prefix and layer count from the tensors themselves.
      const StateDict all = vr::load_tensors(src);
      const std::string prefix = vr::selection::decoder_layer_prefix(all, src);
      const int64_t stored = vr::selection::count_decoder_layers(all, prefix);
      VR_CHECK(stored == L, "{}: config.json says {} decoder layers but the weights hold {}", src, L, stored);
      const LayerRenamer rename(prefix, choice.kept);

      const fs::path index = fs::path(src) / "model.safetensors.index.json";
      if (fs::exists(index)) {
        const nlohmann::json idx = read_json_file(index.string());
        std::set<std::string> shards;
        for (const auto& kv : idx.at("weight_map").items()) shards.insert(kv.value().get<std::string>());
        std::map<std::string, std::string> map;
        uint64_t bytes = 0;
        for (const auto& shard : shards) {
          auto [b, a] = prune_safetensors_file((fs::path(src) / shard).string(), (fs::path(tmp) / shard).string(), rename,
                                               &map, &bytes);
          report.parameters_before += b;
          report.parameters_after += a;
          if (a > 0) report.weight_files.push_back(shard);
        }
        nlohmann::json out_idx = idx;
        out_idx["metadata"]["total_size"] = bytes;
        out_idx["weight_map"] = map;
        atomic_write_file((fs::path(tmp) / index.filename()).string(), out_idx.dump(2) + "\n");
        written.insert(index.filename().string());
      } else if (fs::exists(fs::path(src) / "model.safetensors")) {
        auto [b, a] = prune_safetensors_file((fs::path(src) / "model.safetensors").string(),
                                             (fs::path(tmp) / "model.safetensors").string(), rename, nullptr, nullptr);
        report.parameters_before = b;
        report.parameters_after = a;
        report.weight_files.push_back("model.safetensors");
      } else {  // torch.save weights: written as one model.safetensors
        StateDict kept;
        for (const auto& [name, t] : all) {
          const std::string n = rename(name);
          if (!n.empty()) kept[n] = t;
        }
        report.parameters_before = numel_of(all);
        report.parameters_after = numel_of(kept);
        vr::save_safetensors((fs::path(tmp) / "model.safetensors").string(), kept);
        report.weight_files.push_back("model.safetensors");
      }
      for (const auto& f : report.weight_files) written.insert(f);

      const std::string config_path = (fs::path(src) / "config.json").string();
      atomic_write_file((fs::path(tmp) / "config.json").string(),
                        set_json_integer_in_text(read_file(config_path), layers_key_path(layout), kept_n, config_path));
      written.insert("config.json");
    }

    // Everything else at the top level, byte for byte (tokenizer, preprocessor, generation_config.json, README...).
    for (const auto& e : fs::directory_iterator(src)) {
      const std::string name = e.path().filename().string();
      if (written.count(name) || name == "pruning.json" || (e.is_regular_file() && is_weight_file(name))) continue;
      if (!e.is_regular_file()) {
        report.skipped.push_back(name);
        continue;
      }
      fs::copy_file(e.path(), fs::path(tmp) / name, fs::copy_options::overwrite_existing);
      report.copied_files.push_back(name);
    }

    nlohmann::json pj = choice.to_json();
    pj["source"] = fs::absolute(src).lexically_normal().string();
    pj["source_layout"] = report.layout;
    pj["output_layout"] = layout == vr::model::LvlmLayout::kLlamaOnly ? "llama" : "llava-hf";
    pj["parameters_before"] = report.parameters_before;
    pj["parameters_after"] = report.parameters_after;
    pj["weight_files"] = report.weight_files;
    pj["copied_files"] = report.copied_files;
    for (const auto& kv : extra.items()) pj[kv.key()] = kv.value();
    report.pruning_json = pj;
    atomic_write_file((fs::path(tmp) / "pruning.json").string(), pj.dump(2) + "\n");
  });
  return report;
}

}  // namespace vr::prune
