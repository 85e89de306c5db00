// The BPE model of tokenizer.json: vocabulary, ranked merges, byte fallback, unknown-token handling,
// `ignore_merges`, and a cache of already-tokenized words.
//
// Merging follows `tokenizers` (and SentencePiece): start from one symbol per character; repeatedly merge
// the adjacent pair with the lowest merge rank (leftmost on ties) until no pair has a merge. Symbols are a
// doubly linked list over an array and candidate pairs sit in a min-heap keyed by (rank, position), so a
// word of n chars costs O(n log n), never a rebuild of strings.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/tokenizer_hash.h"

namespace vr::text::tokenizer_detail {

class WordCache;

class BpeModel {
 public:
  explicit BpeModel(const nlohmann::json& model);  // the "model" block of tokenizer.json
  ~BpeModel();

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void tokenize(std::string_view word, std::vector<int64_t>& out) const;

  int32_t token_to_id(std::string_view token) const { return vocab_.find(token); }  // -1 when absent
  const std::string* id_to_token(int64_t id) const {
    return id >= 0 && id < static_cast<int64_t>(tokens_.size()) && has_id_[id] ? &tokens_[id] : nullptr;
  }
  size_t size() const { return vocab_.size(); }
  int32_t unk_id() const { return unk_id_; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& ids) const;

  StringIdMap vocab_;
  std::vector<std::string> tokens_;  // id → token string
  std::vector<bool> has_id_;
  MergeMap merges_;
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  int32_t byte_ids_[256];  // "<0xAB>" token ids for byte fallback, -1 when missing
  std::unique_ptr<WordCache> cache_;
};

}  // namespace vr::text::tokenizer_detail
