#include "vr/data/label_masking.h"

#include <algorithm>

#include "vr/core/error.h"

namespace vr::data {

namespace {

// Python str.split(sep) (sep non-empty): every piece, including empty ones at either end.
std::vector<std::string> split_all(const std::string& s, const std::string& sep) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t at = s.find(sep); at != std::string::npos; at = s.find(sep, begin)) {
    parts.push_back(s.substr(begin, at - begin));
    begin = at + sep.size();
  }
  parts.push_back(s.substr(begin));
  return parts;
}

// labels[begin : begin + count] = -100 with Python slice clamping (count <= 0 masks nothing).
void mask_span(std::vector<int64_t>& labels, int64_t begin, int64_t count) {
  int64_t n = static_cast<int64_t>(labels.size());
  int64_t lo = std::clamp<int64_t>(begin, 0, n), hi = std::clamp<int64_t>(begin + count, 0, n);
  for (int64_t k = lo; k < hi; ++k) labels[k] = kIgnoreIndex;
}

// preprocess_plain: "<image>" + caption + sep; everything up to and including the image slot is masked.
TokenizedSample tokenize_plain(const std::vector<Turn>& turns, const ConversationTemplate& tpl, const TextEncoder& enc) {
  VR_CHECK(turns.size() == 2, "template 'plain' needs exactly 2 turns (image, caption), got {}", turns.size());
  VR_CHECK(count_image_tokens(turns[0].value) >= 1, "template 'plain' needs \"<image>\" in the first turn");
  TokenizedSample out;
  out.input_ids = tokenizer_image_token(std::string(kImageToken) + turns[1].value + tpl.sep, enc);
  out.labels = out.input_ids;
  mask_span(out.labels, 0, static_cast<int64_t>(tokenizer_image_token(kImageToken, enc).size()));
  return out;
}

}  // namespace

int64_t pad_id_for(const ConversationTemplate& tpl, const TextEncoder& enc) {
  if (enc.pad) return *enc.pad;
  if (tpl.masking == MaskingRule::BunnyLlama && enc.eos) return *enc.eos;
  if (enc.unk) return *enc.unk;
  return 0;
}

TokenizedSample tokenize_conversation(const std::vector<Turn>& raw_turns, bool has_image,
                                      const ConversationTemplate& tpl, const TextEncoder& enc,
                                      int64_t model_max_length) {
  std::vector<Turn> turns = raw_turns;
  if (has_image)  // preprocess_multimodal runs only for records with an image
    for (auto& t : turns) t.value = move_image_to_front(t.value);
  if (tpl.is_plain()) return tokenize_plain(turns, tpl, enc);

  turns = normalize_turns(std::move(turns));
  const std::string prompt = tpl.render(turns);
  auto tok = [&](const std::string& text) { return has_image ? tokenizer_image_token(text, enc) : enc.encode(text); };

  TokenizedSample out;
  out.input_ids = tok(prompt);
  if (!has_image && static_cast<int64_t>(out.input_ids.size()) > model_max_length)
    out.input_ids.resize(model_max_length);  // tokenizer(..., max_length, truncation=True)
  out.labels = out.input_ids;
  std::vector<int64_t>& labels = out.labels;

  const int64_t pad = pad_id_for(tpl, enc);
  const int64_t total_len = std::count_if(out.input_ids.begin(), out.input_ids.end(), [&](int64_t id) { return id != pad; });

  // Bunny without a BOS token uses preprocess_bunny: start at 0, instruction - 1, round + 1.
  const bool with_bos = tpl.masking != MaskingRule::BunnyLlama || enc.bos.has_value();
  int64_t cur = with_bos ? 1 : 0;
  mask_span(labels, 0, cur);
  int64_t rounds_done = 0;
  const std::string answer_sep = tpl.answer_separator();
  const std::vector<std::string> rounds = split_all(prompt, tpl.sep2);
  for (size_t i = 0; i < rounds.size(); ++i) {
    const std::string& round = rounds[i];
    if (round.empty()) break;
    std::vector<std::string> parts = split_all(round, answer_sep);
    if (parts.size() != 2) break;
    int64_t round_len = static_cast<int64_t>(tok(round).size());
    int64_t instruction_len = static_cast<int64_t>(tok(parts[0] + answer_sep).size()) - (with_bos ? 2 : 1);
    if (!with_bos) round_len += 1;
    // Non-legacy SentencePiece: text after "</s>" has no dummy prefix in the full prompt, but gets one when
    // the round is tokenised alone -> one token too many in both counts.
    if (tpl.masking == MaskingRule::VicunaV1 && i != 0 && !enc.legacy) {
      round_len -= 1;
      instruction_len -= 1;
    }
    mask_span(labels, cur, instruction_len);
    cur += round_len;
    ++rounds_done;
  }
  mask_span(labels, cur, static_cast<int64_t>(labels.size()) - cur);
  // pad == eos: the terminators are not counted in total_len.
  if (tpl.masking == MaskingRule::BunnyLlama && enc.eos && *enc.eos == pad) cur -= rounds_done;
  if (cur < model_max_length && cur != total_len) {
    std::fill(labels.begin(), labels.end(), kIgnoreIndex);
    out.mismatch = true;
  }
  return out;
}

}  // namespace vr::data
