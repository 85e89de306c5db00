// One training conversation as it comes out of a dataset record, before any template is applied.
//
// LLaVA / Bunny record: {"id", "image" | "images", "conversations": [{"from": "human"|"gpt", "value": ...}]}.
// The text refers to each image with the literal "<image>"; tokenisation turns it into one IMAGE_TOKEN_INDEX.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vr::data {

constexpr int64_t kIgnoreIndex = -100;      // label of positions that carry no loss (IGNORE_INDEX)
constexpr int64_t kImageTokenIndex = -200;  // input id of an image slot (IMAGE_TOKEN_INDEX)
constexpr const char* kImageToken = "<image>";

struct Turn {
  std::string from;   // "human" or "gpt"
  std::string value;  // message text, may contain "<image>"
};

// Number of non-overlapping "<image>" occurrences in `text`.
int64_t count_image_tokens(const std::string& text);
int64_t count_image_tokens(const std::vector<Turn>& turns);

// The `<image>` placement rule of LLaVA/Bunny `preprocess_multimodal`: a message holding exactly one "<image>"
// becomes "<image>\n" + (message without it, stripped), stripped again. "Q <image>" -> "<image>\nQ";
// "<image>" alone stays "<image>". Messages with several placeholders are left as written.
std::string move_image_to_front(const std::string& text);

// Python's str.strip() for the ASCII whitespace set (space \t \n \r \v \f and \x1c-\x1f).
std::string strip_whitespace(const std::string& text);

// Reference rule: a conversation whose first turn is not from "human" loses that turn. Then roles must
// alternate human, gpt, human, ... (the reference asserts this). Throws vr::Error describing the problem
// (unknown role, broken alternation, empty conversation).
std::vector<Turn> normalize_turns(std::vector<Turn> turns);

}  // namespace vr::data
