// Loading: tokenizer.json (pipeline, vocab, merges, added tokens) and, next to it, tokenizer_config.json /
// special_tokens_map.json (BOS/EOS flags, special-token names, the SentencePiece `legacy` flag).
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "text/tokenizer_state.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/text/tokenizer.h"

namespace vr::text::tokenizer_detail {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  VR_CHECK(in, "cannot open '{}'", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    VR_FAIL("'{}' is not valid JSON: {}", path.string(), e.what());
  }
}

// A special token in tokenizer_config.json is a string, {"content": "..."} (AddedToken) or null.
std::optional<std::string> token_name(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& v = config.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return std::nullopt;
}

std::optional<int64_t> lookup(const TokenizerState& s, const std::string& token) {
  if (const AddedToken* a = s.added.by_content(token)) return a->id;
  int32_t id = s.model->token_to_id(token);
  return id >= 0 ? std::optional<int64_t>(id) : std::nullopt;
}

bool contains(const std::vector<int32_t>& v, std::optional<int64_t> id) {
  return id && std::find(v.begin(), v.end(), *id) != v.end();
}

}  // namespace

std::shared_ptr<TokenizerState> load_tokenizer(const std::string& path_in) {
  fs::path path(path_in);
  VR_CHECK(fs::exists(path), "tokenizer: '{}' does not exist (give a tokenizer.json or a directory holding one)", path_in);
  if (fs::is_directory(path)) path /= "tokenizer.json";
  VR_CHECK(fs::exists(path), "tokenizer: '{}' not found (a directory must hold tokenizer.json; SentencePiece "
           "tokenizer.model files are not read)", path.string());
  fs::path dir = path.parent_path();
  try {
    auto s = std::make_shared<TokenizerState>();
    s->source = path.string();
    json tj = read_json(path);
    json config = fs::exists(dir / "tokenizer_config.json") ? read_json(dir / "tokenizer_config.json") : json::object();
    json special_map = fs::exists(dir / "special_tokens_map.json") ? read_json(dir / "special_tokens_map.json") : json::object();

    const json null;
    const json& normalizer = tj.contains("normalizer") ? tj.at("normalizer") : null;
    const json& pre_tokenizer = tj.contains("pre_tokenizer") ? tj.at("pre_tokenizer") : null;
    s->sentencepiece_style = uses_sentencepiece_prefix(normalizer, pre_tokenizer);
    // transformers: legacy=None means legacy (with a warning); only SentencePiece-style tokenizers have the notion.
    s->legacy = s->sentencepiece_style && !(config.contains("legacy") && config.at("legacy").is_boolean() &&
                                            !config.at("legacy").get<bool>());
    if (s->sentencepiece_style && !s->legacy) s->sentencepiece_prefix = "\xE2\x96\x81";  // "▁"
    BuildOptions options;
    options.sentencepiece_legacy = !s->sentencepiece_style || s->legacy;

    VR_CHECK(tj.contains("model"), "no 'model' block");
    s->model = std::make_unique<BpeModel>(tj.at("model"));
    if (tj.contains("added_tokens")) {
      for (const json& a : tj.at("added_tokens")) {
        AddedToken t;
        t.content = a.at("content").get<std::string>();
        t.id = a.at("id").get<int32_t>();
        t.special = a.value("special", false);
        t.normalized = a.value("normalized", !t.special);
        t.lstrip = a.value("lstrip", false);
        t.rstrip = a.value("rstrip", false);
        t.single_word = a.value("single_word", false);
        s->added.add(std::move(t));
      }
    }
    s->normalizer = make_normalizer(normalizer, options);
    s->pre_tokenizer = make_pre_tokenizer(pre_tokenizer, options);
    s->decoder = make_decoder(tj.contains("decoder") ? tj.at("decoder") : null);
    s->post = make_post_process(tj.contains("post_processor") ? tj.at("post_processor") : null);
    if (tj.contains("truncation") && !tj.at("truncation").is_null())
      VR_FAIL("'truncation' is set; vrtrain truncates itself, remove it from tokenizer.json");
    if (tj.contains("padding") && !tj.at("padding").is_null())
      VR_FAIL("'padding' is set; vrtrain pads itself, remove it from tokenizer.json");

    // Special tokens: tokenizer_config.json first, then special_tokens_map.json, then the model's unk_token.
    auto resolve = [&](const char* key) -> std::optional<int64_t> {
      std::optional<std::string> name = token_name(config, key);
      if (!name) name = token_name(special_map, key);
      if (!name) return std::nullopt;
      auto id = lookup(*s, *name);
      VR_CHECK(id, "tokenizer_config: {} '{}' is not a token of this tokenizer", key, *name);
      return id;
    };
    s->bos = resolve("bos_token");
    s->eos = resolve("eos_token");
    s->pad = resolve("pad_token");
    s->unk = resolve("unk_token");
    if (!s->unk && s->model->unk_id() >= 0) s->unk = s->model->unk_id();

    // BOS/EOS: transformers' Llama tokenizers build the template from add_bos_token (default true) and
    // add_eos_token (default false); other classes follow the file's post_processor unless a flag is set.
    std::string cls = config.value("tokenizer_class", "");
    bool llama_class = cls.rfind("LlamaTokenizer", 0) == 0 || cls.rfind("CodeLlamaTokenizer", 0) == 0;
    auto flag = [&](const char* key) -> std::optional<bool> {
      if (config.contains(key) && config.at(key).is_boolean()) return config.at(key).get<bool>();
      return std::nullopt;
    };
    std::optional<bool> add_bos = flag("add_bos_token"), add_eos = flag("add_eos_token");
    if (llama_class || add_bos || add_eos) {
      bool bos_on = add_bos.value_or(llama_class ? true : contains(s->post.prefix, s->bos));
      bool eos_on = add_eos.value_or(llama_class ? false : contains(s->post.suffix, s->eos));
      VR_CHECK(!bos_on || s->bos, "tokenizer_config: add_bos_token is true but there is no bos_token");
      VR_CHECK(!eos_on || s->eos, "tokenizer_config: add_eos_token is true but there is no eos_token");
      s->post.prefix.clear();
      s->post.suffix.clear();
      if (bos_on) s->post.prefix.push_back(static_cast<int32_t>(*s->bos));
      if (eos_on) s->post.suffix.push_back(static_cast<int32_t>(*s->eos));
    }

    int64_t extra = 0;
    for (const AddedToken& a : s->added.all())
      if (!s->model->id_to_token(a.id)) ++extra;
    s->vocab_size = static_cast<int64_t>(s->model->size()) + extra;
    return s;
  } catch (const vr::Error& e) {
    VR_FAIL("tokenizer '{}': {}", path.string(), e.what());
  } catch (const nlohmann::json::exception& e) {
    VR_FAIL("tokenizer '{}': unexpected JSON layout: {}", path.string(), e.what());
  }
}

}  // namespace vr::text::tokenizer_detail

namespace vr::text {

std::vector<std::pair<int64_t, std::string>> read_added_tokens(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  namespace fs = std::filesystem;
  const fs::path tj = fs::path(dir) / "tokenizer.json", tc = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(tj)) {
    const auto j = vr::read_json_file(tj.string());
    if (j.contains("added_tokens") && j["added_tokens"].is_array())
      for (const auto& a : j["added_tokens"])
        if (a.contains("id") && a["id"].is_number_integer() && a.contains("content") && a["content"].is_string())
          out.emplace_back(a["id"].get<int64_t>(), a["content"].get<std::string>());
  }
  if (out.empty() && fs::exists(tc)) {
    const auto j = vr::read_json_file(tc.string());
    if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object())
      for (const auto& [id, a] : j["added_tokens_decoder"].items())
        if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos && a.contains("content") &&
            a["content"].is_string())
          out.emplace_back(std::stoll(id), a["content"].get<std::string>());
  }
  return out;
}

}  // namespace vr::text
