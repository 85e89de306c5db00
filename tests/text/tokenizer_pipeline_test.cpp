// Normalizers, pre-tokenizers and decoders one by one (through the internal make_* factories), with the
// expected splits taken from the `tokenizers` documentation and source.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "text/tokenizer_components.h"
#include "text/tokenizer_test_util.h"
#include "text/tokenizer_text.h"

namespace text_tokenizer_pipeline_test {

namespace {

using nlohmann::json;
using namespace vr::text::tokenizer_detail;
using Strings = std::vector<std::string>;

Strings pre_tokenize(const json& j, const std::string& text, bool legacy = true) {
  BuildOptions options;
  options.sentencepiece_legacy = legacy;
  auto p = make_pre_tokenizer(j, options);
  std::vector<Piece> pieces{Piece{text, true}};
  p->pre_tokenize(pieces);
  Strings out;
  for (auto& piece : pieces) out.push_back(piece.text);
  return out;
}

json split(const std::string& literal, const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", literal}}}, {"behavior", behavior}, {"invert", invert}};
}

// The example of `tokenizers`' SplitDelimiterBehavior documentation.
TEST(TokenizerPipeline, SplitBehaviors) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split("-", "Removed"), text), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("-", "Isolated"), text), (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("-", "MergedWithPrevious"), text), (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("-", "MergedWithNext"), text), (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split("-", "Contiguous"), text), (Strings{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("-", "Removed", true), text), (Strings{"-", "-", "-"}));
}

// Llama-3's regex: digits in groups of 3, case-insensitive contractions, Unicode whitespace (NBSP, U+3000,
// NEL), the trailing-space rule \s+(?!\S).
TEST(TokenizerPipeline, Llama3RegexSplit) {
  json j = {{"type", "Split"}, {"pattern", {{"Regex", vr::test::kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_EQ(pre_tokenize(j, "1234567"), (Strings{"123", "456", "7"}));
  EXPECT_EQ(pre_tokenize(j, "I'M you'Re"), (Strings{"I", "'M", " you", "'Re"}));
  EXPECT_EQ(pre_tokenize(j, "a   b"), (Strings{"a", "  ", " b"}));
  EXPECT_EQ(pre_tokenize(j, "a\xC2\xA0\xC2\xA0" "b"), (Strings{"a", "\xC2\xA0", "\xC2\xA0" "b"}));      // NBSP
  EXPECT_EQ(pre_tokenize(j, "x\xE3\x80\x80y"), (Strings{"x", "\xE3\x80\x80" "y"}));                     // U+3000
  EXPECT_EQ(pre_tokenize(j, "a\xC2\x85\xC2\x85" "b"), (Strings{"a", "\xC2\x85", "\xC2\x85" "b"}));      // NEL
  EXPECT_EQ(pre_tokenize(j, "x\n\n  y"), (Strings{"x", "\n\n", " ", " y"}));
  EXPECT_EQ(pre_tokenize(j, "\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4"), (Strings{"\xD9\xA1\xD9\xA2\xD9\xA3", "\xD9\xA4"}));  // Arabic-Indic digits
}

TEST(TokenizerPipeline, ByteLevelPreTokenizer) {
  // GPT-2 split + byte mapping; add_prefix_space adds one space when the text does not start with one.
  json j = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(j, "Hello world\n"), (Strings{"\xC4\xA0Hello", "\xC4\xA0world", "\xC4\x8A"}));  // Ġ, Ċ
  json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(pre_tokenize(no_regex, std::string("a b\0", 4)), (Strings{"a\xC4\xA0" "b\xC4\x80"}));  // NUL → Ā
}

TEST(TokenizerPipeline, MetaspacePrependSchemes) {
  auto meta = [](const std::string& scheme, bool split) {
    return json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", scheme}, {"split", split}};
  };
  const std::string u = "\xE2\x96\x81";  // ▁
  EXPECT_EQ(pre_tokenize(meta("always", true), "Hey friend"), (Strings{u + "Hey", u + "friend"}));
  EXPECT_EQ(pre_tokenize(meta("always", false), "Hey friend"), (Strings{u + "Hey" + u + "friend"}));
  EXPECT_EQ(pre_tokenize(meta("never", false), "Hey friend"), (Strings{"Hey" + u + "friend"}));
  // "first": only a piece at the very start of the text gets the prefix.
  BuildOptions options;
  auto first = make_pre_tokenizer(meta("first", false), options);
  std::vector<Piece> pieces{Piece{"Hey", true}, Piece{"you", false}};
  first->pre_tokenize(pieces);
  EXPECT_EQ(pieces[0].text, u + "Hey");
  EXPECT_EQ(pieces[1].text, "you");
  // Non-legacy SentencePiece turns "always" into "first".
  auto non_legacy = make_pre_tokenizer(meta("always", false), BuildOptions{false});
  std::vector<Piece> later{Piece{"you", false}};
  non_legacy->pre_tokenize(later);
  EXPECT_EQ(later[0].text, "you");
}

TEST(TokenizerPipeline, DigitsAndWhitespace) {
  EXPECT_EQ(pre_tokenize(json{{"type", "Digits"}, {"individual_digits", true}}, "a123b"), (Strings{"a", "1", "2", "3", "b"}));
  EXPECT_EQ(pre_tokenize(json{{"type", "Digits"}, {"individual_digits", false}}, "a123b"), (Strings{"a", "123", "b"}));
  EXPECT_EQ(pre_tokenize(json{{"type", "WhitespaceSplit"}}, " a  b\tc "), (Strings{"a", "b", "c"}));
  EXPECT_EQ(pre_tokenize(json{{"type", "Whitespace"}}, "Hey, you!"), (Strings{"Hey", ",", "you", "!"}));
}

std::string normalize(const json& j, const std::string& text, bool at_start = true, bool legacy = true) {
  auto n = make_normalizer(j, BuildOptions{legacy});
  Piece p{text, at_start};
  n->normalize(p);
  return p.text;
}

TEST(TokenizerPipeline, Normalizers) {
  const std::string u = "\xE2\x96\x81";
  json llama2 = {{"type", "Sequence"},
                 {"normalizers", json::array({json{{"type", "Prepend"}, {"prepend", u}},
                                              json{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", u}}})}};
  EXPECT_EQ(normalize(llama2, "Hi  there"), u + "Hi" + u + u + "there");
  EXPECT_EQ(normalize(llama2, ""), "");                             // Prepend leaves empty text alone
  EXPECT_EQ(normalize(llama2, " x", false), u + u + "x");           // legacy: after a special token too
  EXPECT_EQ(normalize(llama2, " x", false, false), u + "x");        // non-legacy: only at the text start
  EXPECT_EQ(normalize(llama2, "x", true, false), u + "x");
  json regex_replace = {{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}};
  EXPECT_EQ(normalize(regex_replace, "a \t\n b"), "a b");
  EXPECT_EQ(normalize(json{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \xE3\x80\x80 a b \n"), "a b");
}

std::string decode(const json& j, Strings tokens) {
  auto d = make_decoder(j);
  d->decode_chain(tokens);
  std::string out;
  for (auto& t : tokens) out += t;
  return out;
}

TEST(TokenizerPipeline, Decoders) {
  const std::string u = "\xE2\x96\x81";
  json llama2 = {{"type", "Sequence"},
                 {"decoders", json::array({json{{"type", "Replace"}, {"pattern", {{"String", u}}}, {"content", " "}},
                                           json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}},
                                           json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  EXPECT_EQ(decode(llama2, {u + "Hello", u + "world", "<0x0A>"}), "Hello world\n");
  EXPECT_EQ(decode(llama2, {u + u + "x"}), " x");  // Strip removes one leading space only
  EXPECT_EQ(decode(llama2, {"<0xF0>", "<0x9F>", "<0x91>", "<0x8D>"}), "\xF0\x9F\x91\x8D");  // 👍 from 4 byte tokens
  // ByteLevel: bytes of all tokens first, then one lossy UTF-8 decode; a token with chars outside the
  // alphabet passes through as its own bytes.
  json bl = {{"type", "ByteLevel"}};
  const auto& enc = byte_level_encoding();
  EXPECT_EQ(decode(bl, {enc[0xF0] + enc[0x9F], enc[0x91] + enc[0x8D]}), "\xF0\x9F\x91\x8D");
  EXPECT_EQ(decode(bl, {enc[0xF0] + enc[0x9F]}), "\xEF\xBF\xBD");  // truncated char → one U+FFFD
  EXPECT_EQ(decode(bl, {"<|eot_id|>", "\xE4\xB8\xAD"}), "<|eot_id|>\xE4\xB8\xAD");
  json meta = {{"type", "Metaspace"}, {"replacement", u}, {"prepend_scheme", "always"}, {"split", true}};
  EXPECT_EQ(decode(meta, {u + "Hey", u + "friend"}), "Hey friend");
}

TEST(TokenizerPipeline, Utf8LossyUsesMaximalSubparts) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_lossy("a\xE2\x82" "b"), "a" + fffd + "b");              // truncated 3-byte char: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xF0\x80\x80"), fffd + fffd + fffd);              // F0 80 is never valid: one per byte
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);              // surrogate
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), fffd + fffd);                         // overlong
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(utf8_lossy("ok \xF0\x9F\x91\x8D"), "ok \xF0\x9F\x91\x8D");
  EXPECT_TRUE(is_valid_utf8("plain ascii text, long enough for the 8-byte path"));
  EXPECT_FALSE(is_valid_utf8("plain ascii text, long enough\xFF for the 8-byte path"));
}

}  // namespace

}  // namespace text_tokenizer_pipeline_test
