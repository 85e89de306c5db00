// Added tokens (tokenizer.json "added_tokens": special tokens such as <|eot_id|>, </s>, and any extra tokens).
// They are found in the text before anything else, leftmost-longest, exactly as written (case-sensitive);
// the text between them goes through the normal pipeline. Tokens with normalized=false are matched in the
// raw text, tokens with normalized=true in the normalized text.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer_hash.h"

namespace vr::text::tokenizer_detail {

class Regex;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

struct Segment {
  size_t begin, end;  // byte range in the text that was split
  int32_t id;         // the added token matched there, or -1 for ordinary text
};

class AddedTokens {
 public:
  AddedTokens();
  ~AddedTokens();
  AddedTokens(AddedTokens&&) noexcept;
  AddedTokens& operator=(AddedTokens&&) noexcept;

  void add(AddedToken token);  // a later token with the same content replaces nothing (first wins)

  // Splits `text` into added-token matches and the text between them (both, in order, none empty).
  // normalized=false: the tokens matched in raw text; true: those matched after normalization.
  void split(std::string_view text, bool normalized, std::vector<Segment>& out) const;
  bool any(bool normalized) const { return !tries_[normalized].nodes.empty() && tries_[normalized].nodes[0].children.size(); }

  const AddedToken* by_id(int64_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  const std::vector<AddedToken>& all() const { return tokens_; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;  // index into tokens_ when a token ends here
  };
  struct Trie {
    std::vector<Node> nodes;
    bool first_byte[256] = {};
  };
  // Longest token (index into tokens_) starting at text[pos], or -1, and its length.
  int32_t longest_at(const Trie& trie, std::string_view text, size_t pos, size_t& len) const;

  std::vector<AddedToken> tokens_;
  StringIdMap by_content_;            // content → index into tokens_
  std::vector<int32_t> index_by_id_;  // id → index into tokens_, -1 when none
  Trie tries_[2];                     // [0]: normalized=false, [1]: normalized=true
  std::unique_ptr<Regex> space_, word_;
};

}  // namespace vr::text::tokenizer_detail
