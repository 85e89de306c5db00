// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for pre-tokenizer splits and Replace normalizers.
// Compiled once when the tokenizer is loaded; find_all is thread-safe (match data is per call / per thread).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vr::text::tokenizer_detail {

class Regex {
 public:
  // `pattern` uses the Oniguruma / Rust-regex syntax of tokenizer.json, which PCRE2 reads as is for the
  // constructs these files use (\p{L}, \p{N}, \s with Unicode semantics, (?i:...), look-ahead).
  // `where` names the component for error messages.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches left to right as [begin, end) byte offsets. `text` must be valid UTF-8.
  // An empty match is skipped over by one character (Oniguruma's find_iter does the same).
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace vr::text::tokenizer_detail
