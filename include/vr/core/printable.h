// Bytes from a file, made safe to quote in an error message: a corrupt checkpoint must not put raw non-UTF-8
// bytes or terminal control sequences on the user's screen (or into a log that a UTF-8 reader then rejects).
// Well-formed UTF-8 is kept as is (tensor names may be non-ASCII); every byte of an ill-formed sequence and
// every control character (C0, DEL) becomes the four ASCII characters \xNN. The result is valid UTF-8; input
// beyond max_bytes of output is cut off and marked "...".
// Header-only (no LibTorch, no library source) so the libFuzzer targets that compile core files alone get it too.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace vr {

inline std::string printable(std::string_view s, size_t max_bytes = 200) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  auto escape = [&](unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  size_t i = 0;
  while (i < s.size() && out.size() < max_bytes) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) escape(c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    // Length and the allowed range of the second byte (no overlongs, no surrogates, nothing above U+10FFFF).
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xbf);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      escape(c);
      ++i;
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

}  // namespace vr
