// Added-token matching: a byte trie per normalization class, scanned leftmost-longest like the
// Aho-Corasick (LeftmostLongest) automaton of `tokenizers`, plus its lstrip / rstrip / single_word rules.
#include "text/tokenizer_added_tokens.h"

#include "text/tokenizer_regex.h"
#include "text/tokenizer_text.h"
#include "vr/core/error.h"

namespace vr::text::tokenizer_detail {

namespace {

// The char ending at text[end) (valid UTF-8), as [begin, end).
size_t previous_char_begin(std::string_view text, size_t end) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
  return b;
}

bool char_matches(const Regex& re, std::string_view ch) {
  std::vector<std::pair<size_t, size_t>> m;
  re.find_all(ch, m);
  return !m.empty();
}

}  // namespace

AddedTokens::AddedTokens()
    : space_(std::make_unique<Regex>("^\\s$", "added tokens")), word_(std::make_unique<Regex>("^\\w$", "added tokens")) {
  for (Trie& t : tries_) t.nodes.emplace_back();
}
AddedTokens::~AddedTokens() = default;
AddedTokens::AddedTokens(AddedTokens&&) noexcept = default;
AddedTokens& AddedTokens::operator=(AddedTokens&&) noexcept = default;

void AddedTokens::add(AddedToken token) {
  VR_CHECK(!token.content.empty(), "tokenizer.json: added token {} has empty content", token.id);
  VR_CHECK(token.id >= 0, "tokenizer.json: added token '{}' has a negative id", token.content);
  if (by_content_.find(token.content) >= 0) return;
  int32_t index = static_cast<int32_t>(tokens_.size());
  by_content_.insert(token.content, index);
  if (static_cast<size_t>(token.id) >= index_by_id_.size()) index_by_id_.resize(token.id + 1, -1);
  if (index_by_id_[token.id] < 0) index_by_id_[token.id] = index;

  Trie& trie = tries_[token.normalized];
  trie.first_byte[static_cast<unsigned char>(token.content[0])] = true;
  int32_t node = 0;
  for (unsigned char c : token.content) {
    int32_t child = -1;
    for (auto [byte, next] : trie.nodes[node].children)
      if (byte == c) child = next;
    if (child < 0) {
      child = static_cast<int32_t>(trie.nodes.size());
      trie.nodes[node].children.emplace_back(c, child);
      trie.nodes.emplace_back();
    }
    node = child;
  }
  trie.nodes[node].token = index;
  tokens_.push_back(std::move(token));
}

int32_t AddedTokens::longest_at(const Trie& trie, std::string_view text, size_t pos, size_t& len) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (auto [byte, next] : trie.nodes[node].children)
      if (byte == c) {
        child = next;
        break;
      }
    if (child < 0) break;
    node = child;
    if (trie.nodes[node].token >= 0) {
      best = trie.nodes[node].token;
      len = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokens::split(std::string_view text, bool normalized, std::vector<Segment>& out) const {
  out.clear();
  const Trie& trie = tries_[normalized];
  size_t emitted = 0;  // text before this offset is already in `out`
  size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t len = 0;
    int32_t index = longest_at(trie, text, pos, len);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[index];
    size_t start = pos, stop = pos + len;
    pos = stop;
    if (tok.single_word) {  // only as a whole word: no word character touching either side
      bool left_ok = start == 0 || !char_matches(*word_, text.substr(previous_char_begin(text, start), start - previous_char_begin(text, start)));
      bool right_ok = stop == text.size() || !char_matches(*word_, text.substr(stop, utf8_len(static_cast<unsigned char>(text[stop]))));
      if (!left_ok || !right_ok) continue;
    }
    if (tok.lstrip) {  // swallow whitespace on the left (not what an earlier match already took)
      while (start > emitted) {
        size_t b = previous_char_begin(text, start);
        if (!char_matches(*space_, text.substr(b, start - b))) break;
        start = b;
      }
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t n = utf8_len(static_cast<unsigned char>(text[stop]));
        if (!char_matches(*space_, text.substr(stop, n))) break;
        stop += n;
      }
      pos = stop;
    }
    if (emitted < start) out.push_back({emitted, start, -1});
    out.push_back({start, stop, tok.id});
    emitted = stop;
  }
  if (emitted < text.size()) out.push_back({emitted, text.size(), -1});
}

const AddedToken* AddedTokens::by_id(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(index_by_id_.size()) || index_by_id_[id] < 0) return nullptr;
  return &tokens_[index_by_id_[id]];
}

const AddedToken* AddedTokens::by_content(std::string_view content) const {
  int32_t index = by_content_.find(content);
  return index < 0 ? nullptr : &tokens_[index];
}

}  // namespace vr::text::tokenizer_detail
