// PCRE2 wrapper. UTF + UCP make \s, \w, \d and POSIX classes Unicode-aware (NBSP, U+3000 and U+0085 are
// whitespace, as in Oniguruma, which `tokenizers` uses); JIT makes matching several times faster.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/tokenizer_regex.h"

#include <pcre2.h>

#include "text/tokenizer_text.h"
#include "vr/core/error.h"

namespace vr::text::tokenizer_detail {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

// Per-thread JIT stack: long runs (e.g. 10k spaces against `\s+(?!\S)`) need more than PCRE2's default
// 32 KiB machine stack. 32 KiB initial, growing to 16 MiB.
struct ThreadMatchContext {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatchContext() {
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchContext() {
    if (stack) pcre2_jit_stack_free(stack);
    if (context) pcre2_match_context_free(context);
  }
};

pcre2_match_context* thread_context() {
  thread_local ThreadMatchContext ctx;
  return ctx.context;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  VR_CHECK(code, "{}: cannot compile regex /{}/ at offset {}: {}", where, pattern, offset, pcre2_message(error));
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  out.clear();
  auto* code = static_cast<pcre2_code*>(code_);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  VR_CHECK(md, "regex /{}/: out of memory", pattern_);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  pcre2_match_context* ctx = thread_context();
  size_t pos = 0;
  while (pos <= text.size()) {
    // The text was validated once by the caller, so skip PCRE2's per-call UTF check (O(n) each call).
    int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), ctx)
                  : pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    VR_CHECK(rc >= 0, "regex /{}/ failed on a {}-byte text: {}", pattern_, text.size(), pcre2_message(rc));
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t begin = ov[0], end = ov[1];
    if (end > begin) {
      out.emplace_back(begin, end);
      pos = end;
    } else {
      if (begin >= text.size()) break;
      pos = begin + utf8_len(static_cast<unsigned char>(text[begin]));
    }
  }
}

}  // namespace vr::text::tokenizer_detail
