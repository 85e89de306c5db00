// What prompt tokenisation and label masking need from a tokenizer, as the Python reference uses it:
// `tokenizer(text).input_ids` (special tokens added, i.e. BOS first when the model has one).
// Keeping this a small value type lets the masking rules be tested with any tokenizer, and keeps the
// tokenizer implementation out of this layer.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vr::text {
class Tokenizer;
}

namespace vr::data {

struct TextEncoder {
  // tokenizer(text).input_ids: BOS (when bos is set) + tokens of `text`.
  std::function<std::vector<int64_t>(std::string_view)> encode;
  std::optional<int64_t> bos, eos, pad, unk;
  bool legacy = true;  // SentencePiece "legacy" mode; false changes the vicuna_v1 round counting (i != 0 rule)

  // For a real tokenizer. HF's Llama-3 tokenizer prepends <|begin_of_text|> on every call, which is what
  // Bunny's masking counts on; some copies of tokenizer.json do not (their post-processor is a bare
  // ByteLevel). So when the tokenizer has a BOS token but does not add it itself, it is prepended here.
  static TextEncoder from_tokenizer(const text::Tokenizer& tok);
};

// LLaVA `tokenizer_image_token`: split `prompt` on "<image>", encode every chunk on its own (with BOS), keep
// the first chunk's BOS once and put one kImageTokenIndex (-200) between chunks:
//   "A <image> B" -> [BOS] + enc("A ")[1:] + [-200] + enc(" B")[1:]
// Exactly as the reference: when the first chunk starts with BOS, one leading id of every chunk is dropped.
std::vector<int64_t> tokenizer_image_token(const std::string& prompt, const TextEncoder& enc);

}  // namespace vr::data
