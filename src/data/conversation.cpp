#include "vr/data/conversation.h"

#include "vr/core/error.h"

namespace vr::data {

int64_t count_image_tokens(const std::string& text) {
  int64_t n = 0;
  const std::string token = kImageToken;
  for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at + token.size())) ++n;
  return n;
}

int64_t count_image_tokens(const std::vector<Turn>& turns) {
  int64_t n = 0;
  for (const auto& t : turns) n += count_image_tokens(t.value);
  return n;
}

static bool is_python_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

std::string strip_whitespace(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::string move_image_to_front(const std::string& text) {
  if (count_image_tokens(text) != 1) return text;
  const std::string token = kImageToken;
  std::string rest = text;
  rest.erase(rest.find(token), token.size());
  return strip_whitespace(token + "\n" + strip_whitespace(rest));
}

std::vector<Turn> normalize_turns(std::vector<Turn> turns) {
  VR_CHECK(!turns.empty(), "empty conversation");
  for (size_t i = 0; i < turns.size(); ++i)
    VR_CHECK(turns[i].from == "human" || turns[i].from == "gpt",
             "turn {}: unknown role '{}' (expected \"human\" or \"gpt\")", i, turns[i].from);
  if (turns.front().from != "human") turns.erase(turns.begin());  // reference: skip a leading non-human turn
  VR_CHECK(!turns.empty(), "conversation has no turn after dropping the leading non-human turn");
  for (size_t j = 0; j < turns.size(); ++j) {
    const char* expected = j % 2 == 0 ? "human" : "gpt";
    VR_CHECK(turns[j].from == expected, "turn {}: roles must alternate human/gpt, got '{}' where '{}' is expected", j,
             turns[j].from, expected);
  }
  return turns;
}

}  // namespace vr::data
