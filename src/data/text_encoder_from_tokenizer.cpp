// TextEncoder over the real tokenizer (kept apart from text_encoder.cpp so the masking code does not
// depend on the tokenizer implementation).
#include "vr/data/text_encoder.h"
#include "vr/text/tokenizer.h"

namespace vr::data {

TextEncoder TextEncoder::from_tokenizer(const text::Tokenizer& tok) {
  TextEncoder enc;
  enc.bos = tok.bos_id();
  enc.eos = tok.eos_id();
  enc.pad = tok.pad_id();
  enc.unk = tok.unk_id();
  // LLaVA's i != 0 correction cancels the dummy "▁" a non-legacy SentencePiece tokenizer adds to a round
  // tokenized alone; a byte-level tokenizer adds none, so it counts as legacy here (no correction).
  enc.legacy = tok.legacy() || !tok.sentencepiece_style();
  const bool prepend_bos = enc.bos.has_value() && !tok.adds_bos();
  const int64_t bos = enc.bos.value_or(0);
  enc.encode = [tok, prepend_bos, bos](std::string_view text) {
    std::vector<int64_t> ids = tok.encode(text, /*add_special_tokens=*/true);
    if (prepend_bos) ids.insert(ids.begin(), bos);
    return ids;
  };
  return enc;
}

}  // namespace vr::data
