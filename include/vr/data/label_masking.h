// Prompt tokenisation + label masking, reproducing the reference count-based algorithms exactly
// (SPEC §3.5), including their quirks:
//   plain      labels[0 : len(tii("<image>"))] = -100                         (preprocess_plain)
//   vicuna_v1  per "</s>" round: mask len(tok(instruction)) - 2 ids, advance len(tok(round)) ids,
//              both one less for rounds i != 0 with a non-legacy tokenizer   (LLaVA preprocess_v1)
//   llama3     same with "<|end_of_text|>" rounds, no i != 0 rule, and `cur -= rounds` before the
//              mismatch test because pad == eos is not counted               (Bunny preprocess_bunny_with_bos)
// When the counted length disagrees with the real one ("tokenization mismatch") the whole sample is masked
// (every label -100) and `mismatch` is set, as the reference does (it only prints a warning).
// Result: supervised ids = each answer's tokens and the terminator closing it (" A1</s>", " A2</s>").
#pragma once
#include <cstdint>
#include <vector>

#include "vr/data/conversation.h"
#include "vr/data/template.h"
#include "vr/data/text_encoder.h"

namespace vr::data {

struct TokenizedSample {
  std::vector<int64_t> input_ids;  // [T] with one -200 per image
  std::vector<int64_t> labels;     // [T] -100 on masked positions
  bool mismatch = false;           // whole sample masked by the "tokenization mismatch" fallback
};

// `turns` are the raw record turns (the <image> placement rule and the first-turn rule are applied here).
// Text-only samples (has_image false) are truncated to model_max_length as the reference tokenizer call does;
// samples with images are not (the collator truncates). Throws vr::Error when the turns do not fit the
// template (plain needs exactly [human with "<image>", gpt]).
TokenizedSample tokenize_conversation(const std::vector<Turn>& turns, bool has_image, const ConversationTemplate& tpl,
                                      const TextEncoder& enc, int64_t model_max_length);

}  // namespace vr::data

namespace vr::data {
// The pad id the reference sets on the tokenizer before tokenising: the tokenizer's own pad token when it
// has one; else eos for the Bunny/Llama-3 template (pad == eos); else unk (LLaVA: pad = unk = 0); else 0.
int64_t pad_id_for(const ConversationTemplate& tpl, const TextEncoder& enc);
}  // namespace vr::data
