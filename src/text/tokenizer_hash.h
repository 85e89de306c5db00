// Open-addressing hash tables for the BPE hot path: token string → id, and (left id, right id) → merge.
// std::unordered_map would work but costs a node allocation per entry and (in C++17) a std::string per
// lookup; these tables are built once and then only read, so they can be flat and lookup by string_view.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer_text.h"

namespace vr::text::tokenizer_detail {

// Immutable after build: insert everything, then only find().
class StringIdMap {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;  // load factor <= 0.5
    slots_.assign(cap, Slot{});
  }
  // Returns false (and keeps the old id) when the key is already present.
  bool insert(std::string_view key, int32_t id) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    return insert_no_grow(key, id);
  }
  int32_t find(std::string_view key) const {  // -1 when absent
    if (slots_.empty()) return -1;
    uint64_t h = hash_bytes(key);
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == h && key_of(s) == key) return s.id;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, length = 0;
    int32_t id = -1;
  };
  std::string_view key_of(const Slot& s) const { return std::string_view(arena_).substr(s.offset, s.length); }
  bool insert_no_grow(std::string_view key, int32_t id) {
    uint64_t h = hash_bytes(key);
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = Slot{h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
        arena_.append(key);
        ++size_;
        return true;
      }
      if (s.hash == h && key_of(s) == key) return false;
    }
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      size_t mask = slots_.size() - 1;
      for (size_t i = s.hash & mask;; i = (i + 1) & mask) {
        if (slots_[i].id < 0) {
          slots_[i] = s;
          break;
        }
      }
    }
  }
  std::vector<Slot> slots_;
  std::string arena_;  // all keys back to back
  size_t size_ = 0;
};

// (left id, right id) → (merge rank, merged id). Built once from the merges list.
class MergeMap {
 public:
  struct Merge {
    int32_t rank = -1, id = -1;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    keys_.assign(cap, kEmpty);
    values_.assign(cap, Merge{});
  }
  // Keeps the first (lowest-rank) entry when a pair repeats, as `tokenizers` does.
  void insert(int32_t left, int32_t right, Merge m) {
    uint64_t key = pack(left, right);
    size_t mask = keys_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        values_[i] = m;
        return;
      }
      if (keys_[i] == key) return;
    }
  }
  Merge find(int32_t left, int32_t right) const {
    uint64_t key = pack(left, right);
    size_t mask = keys_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      if (keys_[i] == key) return values_[i];
      if (keys_[i] == kEmpty) return Merge{};
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t pack(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return x;
  }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
};

}  // namespace vr::text::tokenizer_detail
