// UTF-8 and byte-level helpers shared by the tokenizer pipeline stages.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vr::text::tokenizer_detail {

// Number of bytes of the well-formed UTF-8 sequence starting at s[i] (1..4), or 0 when the bytes there
// are not a well-formed sequence (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_valid_len(std::string_view s, size_t i);
// Length of the char starting at s[i] in text already known to be valid UTF-8 (from the lead byte).
inline size_t utf8_len(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }
// Code point of the (valid) char at s[i].
char32_t utf8_decode(std::string_view s, size_t i);
void utf8_append(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);
// Replaces every ill-formed stretch by U+FFFD following the "maximal subpart" practice (the behaviour of
// Rust's String::from_utf8_lossy and Python's bytes.decode(errors="replace")).
std::string utf8_lossy(std::string_view s);

// GPT-2 byte-level alphabet: every byte maps to one printable code point (space → 'Ġ' U+0120,
// '\n' → 'Ċ' U+010A, printable ASCII and most of Latin-1 map to themselves).
const std::array<std::string, 256>& byte_level_encoding();  // byte → UTF-8 of its code point
// Code point → byte, or -1 when the code point is not in the alphabet.
int byte_level_decode(char32_t cp);

// 64-bit hash of a byte string (used by the tokenizer hash tables; not cryptographic).
uint64_t hash_bytes(std::string_view s);

}  // namespace vr::text::tokenizer_detail
