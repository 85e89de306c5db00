// Editing one number inside a JSON file's TEXT, leaving every other byte as it was: a pruned checkpoint's
// config.json must differ from its source only in num_hidden_layers (transformers' own save_pretrained output would
// change nothing else either: key order, float spelling and indentation stay the source's).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vr::prune {

// Sets the value at `path` (object keys from the root, e.g. {"text_config", "num_hidden_layers"}) to `value`.
// The old value's bytes are replaced by the integer's; a missing key is inserted as the first member of its object
// (indented like the object's first member), and a missing object on the way is inserted as {"key": ...}.
// `source` names the file in errors (invalid JSON, a non-object on the path).
std::string set_json_integer_in_text(const std::string& text, const std::vector<std::string>& path, int64_t value,
                                     const std::string& source);

}  // namespace vr::prune
