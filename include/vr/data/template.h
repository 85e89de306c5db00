// Conversation templates: how a list of turns becomes one prompt string (LLaVA/Bunny `Conversation.get_prompt`).
//
//   plain      "<image>" + caption + "\n"                                   stage-1 projector pretraining
//   vicuna_v1  SYS " USER: <image>\nQ1 ASSISTANT: A1</s>USER: Q2 ASSISTANT: A2</s>"          LLaVA-1.5
//   llava_v1   same with "curious human ... the human's questions."        (LLaVA `llava_v1`)
//   llama3     SYS " USER: <image>\nQ1 ASSISTANT: A1<|end_of_text|>USER: ..."  Bunny-Llama-3-8B-V (upstream
//              Bunny's "llama" template: spaced sep " ", no Llama-3 header tokens)
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "vr/data/conversation.h"

namespace vr::data {

// Which reference label-masking algorithm goes with a template (see label_masking.h).
enum class MaskingRule {
  Plain,       // LLaVA/Bunny preprocess_plain
  VicunaV1,    // LLaVA preprocess_v1 (with the non-legacy SentencePiece correction)
  BunnyLlama,  // Bunny preprocess_bunny_with_bos (or preprocess_bunny when the tokenizer has no BOS)
};

struct ConversationTemplate {
  std::string name;
  std::string system;          // "" for plain
  std::string user_role;       // "USER"
  std::string assistant_role;  // "ASSISTANT"
  std::string sep;             // after the system prompt and after every user message
  std::string sep2;            // after every assistant message (the turn terminator, e.g. "</s>")
  MaskingRule masking = MaskingRule::VicunaV1;

  bool is_plain() const { return masking == MaskingRule::Plain; }
  // "TWO" style: system + sep, then role + ": " + text + (sep | sep2) per message; a message that is
  // std::nullopt or empty renders as role + ":" (the generation prompt "... ASSISTANT:").
  // Plain style: the concatenated messages, each followed by sep.
  std::string render(const std::vector<std::optional<std::string>>& messages) const;
  // The training prompt of alternating human/gpt turns (already normalised).
  std::string render(const std::vector<Turn>& turns) const;
  // " ASSISTANT: ": the string that splits a round into instruction and answer.
  std::string answer_separator() const { return sep + assistant_role + ": "; }
};

// The template registered under `name`; vr::Error listing the known names (and the closest) otherwise.
const ConversationTemplate& conversation_template(const std::string& name);
std::vector<std::string> template_names();

}  // namespace vr::data
