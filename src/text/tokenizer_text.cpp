// UTF-8 validation / lossy repair and the GPT-2 byte-level alphabet.
#include "text/tokenizer_text.h"

#include <cstring>

namespace vr::text::tokenizer_detail {

size_t utf8_valid_len(std::string_view s, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100u; };
  unsigned b0 = byte(0);
  if (b0 < 0x80) return 1;
  auto cont = [](unsigned b) { return b >= 0x80 && b <= 0xBF; };
  // Second-byte ranges that exclude overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4).
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(byte(1)) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    unsigned b1 = byte(1);
    return (b1 >= lo && b1 <= hi && cont(byte(2))) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    unsigned b1 = byte(1);
    return (b1 >= lo && b1 <= hi && cont(byte(2)) && cont(byte(3))) ? 4 : 0;
  }
  return 0;
}

char32_t utf8_decode(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
  switch (utf8_len(static_cast<unsigned char>(s[i]))) {
    case 1: return b(0);
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII fast path, 8 bytes at a time.
    if (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    size_t n = utf8_valid_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    size_t n = utf8_valid_len(s, i);
    if (n) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    // Maximal subpart: the longest prefix of a well-formed sequence, at least one byte, becomes one U+FFFD.
    // Its length is the number of bytes that utf8_valid_len accepted before failing; recompute it here.
    unsigned b0 = static_cast<unsigned char>(s[i]);
    size_t want = (b0 >= 0xC2 && b0 <= 0xDF) ? 2 : (b0 >= 0xE0 && b0 <= 0xEF) ? 3 : (b0 >= 0xF0 && b0 <= 0xF4) ? 4 : 1;
    size_t take = 1;
    if (want > 1 && i + 1 < s.size()) {
      unsigned b1 = static_cast<unsigned char>(s[i + 1]);
      unsigned lo = 0x80, hi = 0xBF;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
      if (b1 >= lo && b1 <= hi) {
        take = 2;
        while (take < want && i + take < s.size() && (static_cast<unsigned char>(s[i + take]) & 0xC0) == 0x80) ++take;
      }
    }
    out += "\xEF\xBF\xBD";
    i += take;
  }
  return out;
}

namespace {
struct ByteLevelTables {
  std::array<std::string, 256> encode;
  std::array<int16_t, 512> decode;  // every alphabet code point is < 512
  ByteLevelTables() {
    decode.fill(-1);
    // Printable bytes keep their own code point; the other 68 get U+0100, U+0101, ... in byte order.
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      char32_t cp = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      utf8_append(encode[b], cp);
      decode[cp] = static_cast<int16_t>(b);
    }
  }
};
const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}
}  // namespace

const std::array<std::string, 256>& byte_level_encoding() { return tables().encode; }

int byte_level_decode(char32_t cp) { return cp < 512 ? tables().decode[cp] : -1; }

uint64_t hash_bytes(std::string_view s) {
  // 8 bytes per step, multiply-xorshift mixing (in the spirit of wyhash / murmur finalizers).
  const uint64_t k = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * k);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * k;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * k;
  h ^= h >> 32;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  return h;
}

}  // namespace vr::text::tokenizer_detail
