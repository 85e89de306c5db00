// BPE model: loading vocab/merges, the heap-driven merge loop, byte fallback and the word cache.
#include "text/tokenizer_bpe.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <deque>
#include <functional>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "text/tokenizer_text.h"
#include "vr/core/error.h"

namespace vr::text::tokenizer_detail {

// Word → ids for words up to kMaxWordBytes, shared by all threads. 64 shards with one mutex each keep
// contention low; a shard stops growing at its capacity (like `tokenizers`' bounded cache) so memory stays
// bounded on huge corpora: ~64 * 4096 words.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;
  static constexpr size_t kShards = 64, kShardCapacity = 4096;

  bool lookup(std::string_view word, std::vector<int64_t>& out) const {
    const Shard& s = shard(word);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.map.find(word);
    if (it == s.map.end()) return false;
    out.insert(out.end(), s.ids.begin() + it->second.first, s.ids.begin() + it->second.first + it->second.second);
    return true;
  }
  void store(std::string_view word, const int64_t* ids, size_t n) {
    Shard& s = shard(word);
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.map.size() >= kShardCapacity || s.map.count(word)) return;
    s.keys.emplace_back(word);
    s.map.emplace(std::string_view(s.keys.back()), std::make_pair(s.ids.size(), n));
    s.ids.insert(s.ids.end(), ids, ids + n);
  }

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::deque<std::string> keys;  // deque: stable addresses for the string_view keys
    std::unordered_map<std::string_view, std::pair<size_t, size_t>> map;  // word → (offset, count) in ids
    std::vector<int64_t> ids;
  };
  Shard& shard(std::string_view w) { return shards_[hash_bytes(w) % kShards]; }
  const Shard& shard(std::string_view w) const { return shards_[hash_bytes(w) % kShards]; }
  std::array<Shard, kShards> shards_;
};

namespace {

using nlohmann::json;

// Merges come as "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
std::pair<std::string, std::string> parse_merge(const json& m, size_t rank) {
  if (m.is_array()) {
    VR_CHECK(m.size() == 2, "tokenizer.json: merge #{} has {} parts, expected 2", rank, m.size());
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  }
  const std::string& s = m.get_ref<const std::string&>();
  size_t space = s.find(' ');
  VR_CHECK(space != std::string::npos && s.find(' ', space + 1) == std::string::npos,
           "tokenizer.json: merge #{} '{}' is not of the form 'left right'", rank, s);
  return {s.substr(0, space), s.substr(space + 1)};
}

struct Symbol {
  int32_t id;
  int32_t prev, next;  // neighbours in the linked list, -1 at the ends
  uint32_t bytes;      // length of the text it covers; 0 once merged into its left neighbour
};

struct Candidate {
  int32_t rank, pos, new_id;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::BpeModel(const json& model) {
  const std::string type = model.value("type", "BPE");
  VR_CHECK(type == "BPE", "tokenizer.json: model type '{}' is not supported (only BPE)", type);
  if (model.contains("dropout") && !model.at("dropout").is_null())
    VR_CHECK(model.at("dropout").get<double>() == 0.0, "tokenizer.json: BPE dropout is not supported (it is random)");
  byte_fallback_ = model.value("byte_fallback", false);
  fuse_unk_ = model.value("fuse_unk", false);
  ignore_merges_ = model.value("ignore_merges", false);
  auto opt_string = [&](const char* key) {
    return model.contains(key) && !model.at(key).is_null() ? model.at(key).get<std::string>() : std::string();
  };
  continuing_subword_prefix_ = opt_string("continuing_subword_prefix");
  end_of_word_suffix_ = opt_string("end_of_word_suffix");

  const json& vocab = model.at("vocab");
  VR_CHECK(vocab.is_object(), "tokenizer.json: model.vocab must be an object token → id");
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int64_t id = it.value().get<int64_t>();
    VR_CHECK(id >= 0 && id < (1ll << 31), "tokenizer.json: vocab id {} of '{}' is out of range", id, it.key());
    vocab_.insert(it.key(), static_cast<int32_t>(id));
    if (static_cast<size_t>(id) >= tokens_.size()) {
      tokens_.resize(id + 1);
      has_id_.resize(id + 1, false);
    }
    tokens_[id] = it.key();
    has_id_[id] = true;
  }
  std::string unk = opt_string("unk_token");
  if (!unk.empty()) {
    unk_id_ = vocab_.find(unk);
    VR_CHECK(unk_id_ >= 0, "tokenizer.json: unk_token '{}' is not in the vocabulary", unk);
  }
  for (int b = 0; b < 256; ++b) byte_ids_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));

  const json& merges = model.at("merges");
  merges_.reserve(merges.size());
  size_t prefix_len = continuing_subword_prefix_.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    auto [left, right] = parse_merge(merges[rank], rank);
    int32_t l = vocab_.find(left), r = vocab_.find(right);
    VR_CHECK(l >= 0 && r >= 0, "tokenizer.json: merge #{} '{} {}' uses a token missing from the vocabulary", rank, left, right);
    // With a continuing-subword prefix ("##"), the right part loses it in the merged token.
    std::string merged = left + (prefix_len && right.compare(0, prefix_len, continuing_subword_prefix_) == 0
                                     ? right.substr(prefix_len) : right);
    int32_t m = vocab_.find(merged);
    VR_CHECK(m >= 0, "tokenizer.json: merge #{} '{} {}' gives '{}', which is not in the vocabulary", rank, left, right, merged);
    merges_.insert(l, r, {static_cast<int32_t>(rank), m});
  }
  cache_ = std::make_unique<WordCache>();
}

BpeModel::~BpeModel() = default;

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {  // a word that is itself a token is taken whole, without running the merges
    int32_t id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  bool cacheable = word.size() <= WordCache::kMaxWordBytes;
  if (cacheable && cache_->lookup(word, out)) return;
  thread_local std::vector<int32_t> ids;
  merge_word(word, ids);
  size_t start = out.size();
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) cache_->store(word, out.data() + start, ids.size());
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& ids) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap_storage;
  symbols.clear();
  auto push_symbol = [&](int32_t id, uint32_t bytes) {
    int32_t idx = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, idx - 1, -1, bytes});
    if (idx > 0) symbols[idx - 1].next = idx;
  };

  // 1. One symbol per character (or per byte with byte fallback, or an unknown-token symbol).
  bool last_was_unk = false;
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    size_t n = utf8_len(static_cast<unsigned char>(word[i]));
    n = std::min(n, word.size() - i);
    std::string_view ch = word.substr(i, n);
    bool first = i == 0, last = i + n == word.size();
    int32_t id;
    if (continuing_subword_prefix_.empty() && end_of_word_suffix_.empty()) {
      id = vocab_.find(ch);
    } else {
      piece.assign(first ? "" : continuing_subword_prefix_).append(ch).append(last ? end_of_word_suffix_ : "");
      id = vocab_.find(piece);
    }
    i += n;
    if (id >= 0) {
      push_symbol(id, static_cast<uint32_t>(n));
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : ch) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : ch) push_symbol(byte_ids_[b], 1);
        last_was_unk = false;
        continue;
      }
    }
    VR_CHECK(unk_id_ >= 0, "tokenizer: character '{}' (in word '{}') is not in the vocabulary and the BPE model "
             "has no unk_token", std::string(ch), std::string(word));
    if (fuse_unk_ && last_was_unk) {
      symbols.back().bytes += static_cast<uint32_t>(n);
    } else {
      push_symbol(unk_id_, static_cast<uint32_t>(n));
    }
    last_was_unk = true;
  }

  // 2. Heap of candidate merges of adjacent pairs; pop the lowest (rank, position), re-check it is still
  // current (its symbols may have been merged away), merge, then add the two new neighbouring pairs.
  std::vector<Candidate>& heap = heap_storage;
  heap.clear();
  auto later = std::greater<Candidate>();  // min-heap on (rank, pos)
  auto consider = [&](int32_t pos) {
    int32_t next = symbols[pos].next;
    if (next < 0) return;
    MergeMap::Merge m = merges_.find(symbols[pos].id, symbols[next].id);
    if (m.rank < 0) return;
    heap.push_back({m.rank, pos, m.id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.pos];
    if (left.bytes == 0 || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    MergeMap::Merge m = merges_.find(left.id, right.id);
    if (m.id != top.new_id) continue;  // stale: this pair changed since it was pushed
    left.id = top.new_id;
    left.bytes += right.bytes;
    right.bytes = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }

  ids.clear();
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace vr::text::tokenizer_detail
