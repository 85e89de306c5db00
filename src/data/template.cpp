#include "vr/data/template.h"

#include "vr/core/error.h"

namespace vr::data {

namespace {

const char* kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";
const char* kLlavaSystem =
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.";

const std::vector<ConversationTemplate>& registry() {
  static const std::vector<ConversationTemplate> all = {
      {"plain", "", "", "", "\n", "\n", MaskingRule::Plain},
      {"vicuna_v1", kVicunaSystem, "USER", "ASSISTANT", " ", "</s>", MaskingRule::VicunaV1},
      {"llava_v1", kLlavaSystem, "USER", "ASSISTANT", " ", "</s>", MaskingRule::VicunaV1},
      {"llama3", kVicunaSystem, "USER", "ASSISTANT", " ", "<|end_of_text|>", MaskingRule::BunnyLlama},
  };
  return all;
}

}  // namespace

std::string ConversationTemplate::render(const std::vector<std::optional<std::string>>& messages) const {
  std::string out = system;
  if (is_plain()) {
    for (const auto& m : messages)
      if (m && !m->empty()) out += *m + sep;
    return out;
  }
  out += sep;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = i % 2 == 0 ? user_role : assistant_role;
    if (messages[i] && !messages[i]->empty())
      out += role + ": " + *messages[i] + (i % 2 == 0 ? sep : sep2);
    else
      out += role + ":";
  }
  return out;
}

std::string ConversationTemplate::render(const std::vector<Turn>& turns) const {
  std::vector<std::optional<std::string>> messages;
  for (const auto& t : turns) messages.emplace_back(t.value);
  return render(messages);
}

const ConversationTemplate& conversation_template(const std::string& name) {
  for (const auto& t : registry())
    if (t.name == name) return t;
  auto names = template_names();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  VR_FAIL("unknown conversation template '{}' (known: {})", name, list);
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const auto& t : registry()) names.push_back(t.name);
  return names;
}

}  // namespace vr::data
