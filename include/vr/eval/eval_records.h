// Reading the evaluation files people already have: JSON Lines (one object per line) or a JSON list, with
// errors that name the file, the line and the record's id, and nothing else to learn.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vr::eval {

struct Record {
  nlohmann::json value;  // the object
  int64_t line = 0;      // 1-based line of a JSONL file; for a JSON list, 1-based position in the list
  int64_t index = 0;     // 0-based record number
};

// Every record of `path` (a JSON list when the first non-blank character is '[', else JSONL; blank lines
// skipped). vr::Error "<path>: line N: ..." on invalid JSON or a record that is not an object, and
// "<path>: the file holds no record" for an empty file.
std::vector<Record> read_records(const std::string& path);

// "<path>: line N (id 'X'): <problem>"; the id part is left out when the record has none.
std::string record_problem(const std::string& path, const Record& r, const std::string& problem);

// A question id as text, for messages and as a map key: strings as they are, numbers as JSON prints them.
std::string id_key(const nlohmann::json& id);

// The record's id from the first of `keys` present; vr::Error (record_problem) when none is, or when it is
// not a string or an integer.
nlohmann::json record_id(const std::string& path, const Record& r, const std::vector<std::string>& keys);

// A required string field; vr::Error naming the field when missing or not a string.
std::string string_field(const std::string& path, const Record& r, const std::string& key);
// An optional string field ("" when absent or null); vr::Error when present with another type.
std::string optional_string(const std::string& path, const Record& r, const std::string& key);

// Joins an image path from a record with the image folder; vr::Error naming the record when the file is missing.
std::string resolve_image(const std::string& path, const Record& r, const std::string& image_folder,
                          const std::string& image);

}  // namespace vr::eval
