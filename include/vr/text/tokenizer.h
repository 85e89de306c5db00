// Hugging Face `tokenizer.json` tokenizers (BPE: byte-level like Llama-3, SentencePiece-style like Llama-2 /
// Vicuna), reimplemented in C++ so that the ids match the Rust `tokenizers` library exactly.
//
//   auto tok = vr::text::Tokenizer::from_path("models/llama3");     // dir with tokenizer.json (+ configs)
//   std::vector<int64_t> ids = tok.encode("Hello world");           // [9906, 1917]
//   std::string text = tok.decode(ids);                              // "Hello world"
//
// Pipeline (as in `tokenizers`): added tokens are matched first in the raw text, then every stretch
// between them is normalized, pre-tokenized (regex split, byte-level map, metaspace) and run through
// the BPE model; the post-processor adds BOS/EOS. See docs/tokenizer.md for what is supported.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vr::text {

namespace tokenizer_detail {
struct TokenizerState;
}

// Cheap to copy (all copies share one immutable state); encode/decode are thread-safe.
class Tokenizer {
 public:
  // `path` is a tokenizer.json file, or a directory holding tokenizer.json and optionally
  // tokenizer_config.json / special_tokens_map.json (read for BOS/EOS flags, special tokens, `legacy`).
  static Tokenizer from_path(const std::string& path);

  // Text (UTF-8; invalid sequences are read as U+FFFD) → ids. add_special_tokens adds BOS/EOS as the
  // post-processor / tokenizer_config say; special tokens written literally in the text are always matched.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids → text through the tokenizer.json decoder (no clean-up of spaces). Throws on an unknown id.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int64_t id) const;  // throws vr::Error on an unknown id
  int64_t vocab_size() const;                 // including added tokens

  std::optional<int64_t> bos_id() const;
  std::optional<int64_t> eos_id() const;
  std::optional<int64_t> pad_id() const;
  std::optional<int64_t> unk_id() const;
  bool adds_bos() const;  // encode(text, true) starts with bos_id()
  bool adds_eos() const;  // encode(text, true) ends with eos_id()
  // SentencePiece "legacy" flag of tokenizer_config.json (default true); always false for byte-level
  // tokenizers. With legacy=false the "▁" prefix is added only at the start of the text, not after
  // every special token (transformers' slow LlamaTokenizer(legacy=False), as LLaVA-1.5 uses it).
  bool legacy() const;
  // A SentencePiece-style tokenizer (Prepend("▁") normalizer or Metaspace pre-tokenizer), e.g. Llama-2;
  // false for byte-level BPE (Llama-3), which has no dummy prefix at all.
  bool sentencepiece_style() const;

  // Extra, beyond the agreed interface.
  bool is_special(int64_t id) const;  // an added token marked "special" (skipped by decode(ids, true))
  std::vector<std::string> tokens(const std::vector<int64_t>& ids) const;  // id_to_token for each

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer_detail::TokenizerState> state);
  std::shared_ptr<const tokenizer_detail::TokenizerState> state_;
};

// (id, content) of every added token the tokenizer files in `dir` declare: tokenizer.json's added_tokens, or, when
// it has none, tokenizer_config.json's added_tokens_decoder. Entries without an integer id and a string content are
// skipped; missing files give none. Reads the files only (no tokenizer is built: a checkpoint's layout needs the
// ids of <image> and the reserved tokens, vr/model/layouts.h).
std::vector<std::pair<int64_t, std::string>> read_added_tokens(const std::string& dir);

}  // namespace vr::text
