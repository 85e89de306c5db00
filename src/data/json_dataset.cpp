#include "vr/data/json_dataset.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"

namespace vr::data {

namespace {

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Buffered forward reader over a file: one pass, constant memory.
class ByteStream {
 public:
  explicit ByteStream(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb")) {
    VR_CHECK(file_, "{}: cannot open ({})", path, std::strerror(errno));
    buffer_.resize(1 << 20);
  }
  ~ByteStream() { std::fclose(file_); }
  // Next byte, or -1 at the end of the file.
  int next() {
    if (pos_ == len_) {
      base_ += len_;
      len_ = std::fread(buffer_.data(), 1, buffer_.size(), file_);
      pos_ = 0;
      if (len_ == 0) return -1;
    }
    return static_cast<unsigned char>(buffer_[pos_++]);
  }
  uint64_t offset() const { return base_ + pos_; }  // of the byte next() returns next

 private:
  std::string path_;
  std::FILE* file_;
  std::vector<char> buffer_;
  size_t pos_ = 0, len_ = 0;
  uint64_t base_ = 0;
};

std::string id_string(const nlohmann::json& record) {
  if (!record.is_object()) return "?";
  auto it = record.find("id");
  if (it == record.end() || it->is_null()) return "?";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::vector<std::string> image_fields(const nlohmann::json& record) {
  std::vector<std::string> rel;
  auto one = record.find("image");
  auto many = record.find("images");
  VR_CHECK(one == record.end() || many == record.end() || one->is_null() || many->is_null(),
           "record has both \"image\" and \"images\"");
  if (one != record.end() && !one->is_null()) {
    VR_CHECK(one->is_string() && !one->get<std::string>().empty(), "\"image\" must be a non-empty string");
    rel.push_back(one->get<std::string>());
  }
  if (many != record.end() && !many->is_null()) {
    VR_CHECK(many->is_array(), "\"images\" must be a list of strings");
    for (const auto& p : *many) {
      VR_CHECK(p.is_string() && !p.get<std::string>().empty(), "\"images\" must be a list of non-empty strings");
      rel.push_back(p.get<std::string>());
    }
  }
  return rel;
}

Sample parse_record(const nlohmann::json& record, const std::string& image_folder) {
  VR_CHECK(record.is_object(), "record is not a JSON object");
  Sample s;
  s.id = id_string(record);
  for (const auto& rel : image_fields(record))
    s.image_paths.push_back((std::filesystem::path(image_folder) / rel).string());
  auto conv = record.find("conversations");
  VR_CHECK(conv != record.end(), "missing \"conversations\"");
  VR_CHECK(conv->is_array(), "\"conversations\" must be a list");
  VR_CHECK(!conv->empty(), "empty conversation");
  for (size_t t = 0; t < conv->size(); ++t) {
    const auto& turn = (*conv)[t];
    VR_CHECK(turn.is_object(), "turn {} is not an object", t);
    auto from = turn.find("from");
    auto value = turn.find("value");
    VR_CHECK(from != turn.end() && from->is_string(), "turn {}: missing string \"from\"", t);
    VR_CHECK(value != turn.end() && value->is_string(), "turn {}: missing string \"value\"", t);
    std::string role = from->get<std::string>();
    VR_CHECK(role == "human" || role == "gpt", "turn {}: unknown role '{}' (expected \"human\" or \"gpt\")", t, role);
    s.conversations.push_back({role, value->get<std::string>()});
  }
  int64_t placeholders = count_image_tokens(s.conversations);
  VR_CHECK(placeholders == s.num_images(), "{} \"<image>\" placeholder(s) in the text but {} image(s)", placeholders,
           s.num_images());
  return s;
}

}  // namespace

JsonDataset::JsonDataset(const std::string& path, const std::string& image_folder)
    : path_(path), image_folder_(image_folder) {
  index_file();
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VR_CHECK(fd_ >= 0, "{}: cannot open ({})", path, std::strerror(errno));
}

JsonDataset::~JsonDataset() {
  if (fd_ >= 0) ::close(fd_);
}

// One streaming pass. JSON list: track string/escape state and bracket depth; a record ends at a ',' or ']'
// at depth 0. JSONL: every non-blank line is a record.
void JsonDataset::index_file() {
  ByteStream in(path_);
  int c = in.next();
  if (c == 0xEF) {  // UTF-8 byte order mark
    VR_CHECK(in.next() == 0xBB && in.next() == 0xBF, "{}: not a JSON list or JSONL file (bad first bytes)", path_);
    c = in.next();
  }
  while (c >= 0 && is_json_space(static_cast<char>(c))) c = in.next();
  VR_CHECK(c >= 0, "{}: empty file (expected a JSON list or JSONL records)", path_);
  VR_CHECK(c == '[' || c == '{', "{}: byte {}: expected '[' (JSON list) or '{{' (JSONL), got '{}'", path_,
           in.offset() - 1, static_cast<char>(c));
  auto add_span = [&](uint64_t begin, uint64_t end) {
    VR_CHECK(end - begin < (uint64_t{1} << 32), "{}: record {} is larger than 4 GiB", path_, spans_.size());
    spans_.push_back({begin, static_cast<uint32_t>(end - begin)});
  };

  if (c == '{') {  // JSONL
    jsonl_ = true;
    uint64_t line_start = in.offset() - 1, last_content_end = in.offset();
    bool has_content = true;
    for (c = in.next();; c = in.next()) {
      if (c == '\n' || c < 0) {
        if (has_content) add_span(line_start, last_content_end);
        if (c < 0) break;
        line_start = in.offset();
        has_content = false;
      } else if (!is_json_space(static_cast<char>(c))) {
        if (!has_content) line_start = in.offset() - 1;
        has_content = true;
        last_content_end = in.offset();
      }
    }
    return;
  }

  // JSON list.
  int64_t depth = 0;  // of brackets inside the current record
  bool in_string = false, escape = false, in_record = false, expect_record = true, closed = false;
  uint64_t record_start = 0, last_content_end = 0, string_start = 0;
  for (c = in.next(); c >= 0; c = in.next()) {
    const uint64_t at = in.offset() - 1;
    if (closed) {
      VR_CHECK(is_json_space(static_cast<char>(c)), "{}: byte {}: unexpected data after the closing ']'", path_, at);
      continue;
    }
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      last_content_end = at + 1;
      continue;
    }
    if (is_json_space(static_cast<char>(c))) continue;
    if (depth == 0 && (c == ',' || c == ']')) {
      if (in_record) {
        add_span(record_start, last_content_end);
        in_record = false;
      } else {
        // "[]" is an empty list; ",," or "[," or ",]" is malformed.
        VR_CHECK(c == ']' && spans_.empty(), "{}: byte {}: missing record before '{}' (after record {})", path_, at,
                 static_cast<char>(c), spans_.size());
      }
      expect_record = c == ',';
      if (c == ']') closed = true;
      continue;
    }
    if (!in_record) {
      VR_CHECK(expect_record, "{}: byte {}: expected ',' or ']' after record {}", path_, at, spans_.size() - 1);
      in_record = true;
      expect_record = false;
      record_start = at;
    }
    if (c == '"') {
      in_string = true;
      string_start = at;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      VR_CHECK(depth > 0, "{}: byte {}: unbalanced '{}' in record {}", path_, at, static_cast<char>(c), spans_.size());
      --depth;
    }
    last_content_end = at + 1;
  }
  VR_CHECK(!in_string, "{}: truncated or malformed: unterminated string starting at byte {} (record {})", path_,
           string_start, spans_.size());
  VR_CHECK(closed, "{}: truncated or malformed: the JSON list is not closed (after {} complete record(s))", path_,
           spans_.size());
}

std::string JsonDataset::record_text(int64_t index) const {
  VR_CHECK(index >= 0 && index < size(), "{}: record index {} out of range [0, {})", path_, index, size());
  const Span& span = spans_[index];
  std::string text(span.length, '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pread(fd_, text.data() + done, text.size() - done, static_cast<off_t>(span.offset + done));
    VR_CHECK(n > 0, "{}: record {}: read failed at byte {} ({})", path_, index, span.offset + done,
             n == 0 ? "file shrank since it was indexed" : std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return text;
}

Sample JsonDataset::get(int64_t index) const {
  std::string text = record_text(index);
  nlohmann::json record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) {
    // Re-parse with exceptions on to get the parser's message (position inside the record).
    std::string why = "malformed JSON";
    try {
      nlohmann::json again = nlohmann::json::parse(text);
      (void)again;
    } catch (const std::exception& e) {
      why = std::string("malformed JSON: ") + e.what();
    }
    throw Error(record_error(path_, index, "?", why));
  }
  try {
    return parse_record(record, image_folder_);
  } catch (const std::exception& e) {
    throw Error(record_error(path_, index, id_string(record), e.what()));
  }
}

int64_t JsonDataset::modality_length(int64_t index) const {
  std::call_once(lengths_once_, [&] {
    modality_lengths_.resize(spans_.size());
    for (int64_t i = 0; i < size(); ++i) {
      try {
        modality_lengths_[i] = static_cast<int32_t>(modality_length_of(get(i)));
      } catch (const Error&) {
        modality_lengths_[i] = 1;  // a bad record: the loader reports (or skips) it when it gets there
      }
    }
  });
  VR_CHECK(index >= 0 && index < size(), "{}: record index {} out of range [0, {})", path_, index, size());
  return modality_lengths_[index];
}

}  // namespace vr::data
