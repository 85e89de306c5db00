// Tiny synthetic tokenizer.json files for tokenizer unit tests (written by the tests, not copied from a model).
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/tokenizer_text.h"
#include "support/fixtures.h"

namespace vr::test {

// A BPE model block: `vocab` tokens get ids 0.. in order; merges as "a b" strings.
inline nlohmann::json bpe_model(const std::vector<std::string>& vocab, const std::vector<std::string>& merges) {
  nlohmann::json v = nlohmann::json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  return {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
          {"byte_fallback", false}, {"vocab", v}, {"merges", merges}};
}

// The 256 byte-level alphabet chars (ids 0..255 in byte order) followed by `extra`.
inline std::vector<std::string> byte_level_vocab(const std::vector<std::string>& extra) {
  std::vector<std::string> v(vr::text::tokenizer_detail::byte_level_encoding().begin(),
                             vr::text::tokenizer_detail::byte_level_encoding().end());
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

// A whole tokenizer.json with the given model and pipeline blocks (null where not given).
inline nlohmann::json tokenizer_json(nlohmann::json model, nlohmann::json normalizer = nullptr,
                                     nlohmann::json pre_tokenizer = nullptr, nlohmann::json decoder = nullptr,
                                     nlohmann::json post_processor = nullptr,
                                     nlohmann::json added_tokens = nlohmann::json::array()) {
  return {{"version", "1.0"},           {"truncation", nullptr}, {"padding", nullptr},
          {"added_tokens", added_tokens}, {"normalizer", normalizer}, {"pre_tokenizer", pre_tokenizer},
          {"post_processor", post_processor}, {"decoder", decoder}, {"model", model}};
}

inline nlohmann::json added_token(int id, const std::string& content, bool special = true, bool lstrip = false,
                                  bool rstrip = false, bool single_word = false, bool normalized = false) {
  return {{"id", id},         {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

// Writes tokenizer.json (and tokenizer_config.json when given) into a fresh directory; returns the directory.
inline std::string write_tokenizer(const std::string& tag, const nlohmann::json& tokenizer,
                                   const nlohmann::json& config = nullptr) {
  std::string dir = temp_dir(tag);
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump();
  if (!config.is_null()) std::ofstream(dir + "/tokenizer_config.json") << config.dump();
  return dir;
}

// Llama-3's split regex (tokenizer.json "pre_tokenizer" Split pattern).
inline const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace vr::test
