// BPE model rules on tiny synthetic vocabularies: merge order, both merge formats, ignore_merges,
// byte fallback, unknown tokens, and loading errors.
#include <gtest/gtest.h>

#include "text/tokenizer_test_util.h"
#include "vr/core/error.h"
#include "vr/text/tokenizer.h"

namespace text_tokenizer_bpe_test {

namespace {

using nlohmann::json;
using vr::text::Tokenizer;
using Ids = std::vector<int64_t>;

Tokenizer load(const json& tokenizer, const json& config = nullptr) {
  return Tokenizer::from_path(vr::test::write_tokenizer("bpe", tokenizer, config));
}

// Lowest rank first, not leftmost first: "abc" with ranks (b c)=0, (a b)=1 must become a|bc → abc,
// whereas a left-to-right merger would produce ab|c.
TEST(TokenizerBpe, MergesLowestRankFirst) {
  //                                  0    1    2    3     4     5      6
  json model = vr::test::bpe_model({"a", "b", "c", "ab", "bc", "abc", "abcc"}, {"b c", "a b", "a bc"});
  Tokenizer tok = load(vr::test::tokenizer_json(model));
  EXPECT_EQ(tok.encode("abc", false), (Ids{5}));
  EXPECT_EQ(tok.encode("ab", false), (Ids{3}));
  EXPECT_EQ(tok.encode("abcc", false), (Ids{5, 2}));  // "abcc" is in vocab but no merge makes it
  EXPECT_EQ(tok.encode("cab", false), (Ids{2, 3}));
  EXPECT_EQ(tok.encode("bcab", false), (Ids{4, 3}));
}

// Equal ranks cannot happen for different pairs, but the same pair occurs at several positions: the
// leftmost merges first ("aaa" → aa|a, not a|aa).
TEST(TokenizerBpe, SamePairMergesLeftmostFirst) {
  json model = vr::test::bpe_model({"a", "aa", "aaa"}, {"a a"});
  Tokenizer tok = load(vr::test::tokenizer_json(model));
  EXPECT_EQ(tok.encode("aaa", false), (Ids{1, 0}));
  EXPECT_EQ(tok.encode("aaaa", false), (Ids{1, 1}));
}

TEST(TokenizerBpe, MergesAsListPairsEqualStringForm) {
  json strings = vr::test::bpe_model({"a", "b", "c", "ab", "bc", "abc"}, {"b c", "a b", "a bc"});
  json lists = strings;
  lists["merges"] = json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"a", "bc"})});
  Tokenizer t1 = load(vr::test::tokenizer_json(strings)), t2 = load(vr::test::tokenizer_json(lists));
  for (const char* text : {"abc", "cab", "abcabc", "bbb"}) EXPECT_EQ(t1.encode(text), t2.encode(text)) << text;
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWordFromVocab) {
  json model = vr::test::bpe_model({"a", "b", "c", "ab"}, {"a b"});
  model["vocab"]["abc"] = 4;  // reachable only as a whole word: no merge builds it
  Tokenizer plain = load(vr::test::tokenizer_json(model));
  EXPECT_EQ(plain.encode("abc", false), (Ids{3, 2}));
  model["ignore_merges"] = true;
  Tokenizer ignoring = load(vr::test::tokenizer_json(model));
  EXPECT_EQ(ignoring.encode("abc", false), (Ids{4}));
  EXPECT_EQ(ignoring.encode("abca", false), (Ids{3, 2, 0}));
}

// SentencePiece-style: unknown chars become their UTF-8 bytes <0xAB> when byte_fallback is on,
// otherwise <unk> (fused into one when fuse_unk).
TEST(TokenizerBpe, ByteFallbackAndUnknown) {
  std::vector<std::string> vocab = {"<unk>", "a", "b"};
  for (int b = 0; b < 256; ++b) vocab.push_back(fmt::format("<0x{:02X}>", b));
  json model = vr::test::bpe_model(vocab, {});
  model["unk_token"] = "<unk>";
  model["byte_fallback"] = true;
  Tokenizer fallback = load(vr::test::tokenizer_json(model, nullptr, nullptr, json{{"type", "ByteFallback"}}));
  const std::string e_acute = "\xC3\xA9";  // é = C3 A9
  EXPECT_EQ(fallback.encode("a" + e_acute + "b", false), (Ids{1, 3 + 0xC3, 3 + 0xA9, 2}));
  EXPECT_EQ(fallback.decode({1, 3 + 0xC3, 3 + 0xA9, 2}), "a" + e_acute + "b");
  // An invalid byte run decodes to one U+FFFD per byte, as `tokenizers` does.
  EXPECT_EQ(fallback.decode({1, 3 + 0xC3, 2}), "a\xEF\xBF\xBD" "b");

  model["byte_fallback"] = false;
  Tokenizer unk = load(vr::test::tokenizer_json(model));
  EXPECT_EQ(unk.encode("a" + e_acute + e_acute + "b", false), (Ids{1, 0, 0, 2}));
  model["fuse_unk"] = true;
  Tokenizer fused = load(vr::test::tokenizer_json(model));
  EXPECT_EQ(fused.encode("a" + e_acute + e_acute + "b", false), (Ids{1, 0, 2}));
}

TEST(TokenizerBpe, NoUnkTokenGivesClearError) {
  Tokenizer tok = load(vr::test::tokenizer_json(vr::test::bpe_model({"a"}, {})));
  try {
    tok.encode("ab", false);
    FAIL() << "expected an error";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not in the vocabulary"), std::string::npos) << e.what();
  }
}

TEST(TokenizerBpe, LoadErrorsNameTheProblem) {
  auto expect_error = [](const json& tj, const std::string& needle) {
    try {
      load(tj);
      ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const vr::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  json model = vr::test::bpe_model({"a", "b", "ab"}, {"a b"});
  expect_error(vr::test::tokenizer_json(vr::test::bpe_model({"a", "b"}, {"a b"})), "not in the vocabulary");
  expect_error(vr::test::tokenizer_json(vr::test::bpe_model({"a", "b", "ab"}, {"a c"})), "missing from the vocabulary");
  expect_error(vr::test::tokenizer_json(vr::test::bpe_model({"a", "b", "ab"}, {"ab"})), "not of the form");
  json wordpiece = model;
  wordpiece["type"] = "WordPiece";
  expect_error(vr::test::tokenizer_json(wordpiece), "WordPiece");
  json dropout = model;
  dropout["dropout"] = 0.1;
  expect_error(vr::test::tokenizer_json(dropout), "dropout");
  expect_error(vr::test::tokenizer_json(model, json{{"type", "BertNormalizer"}}), "normalizer 'BertNormalizer'");
  expect_error(vr::test::tokenizer_json(model, nullptr, json{{"type", "Punctuation"}}), "pre_tokenizer 'Punctuation'");
  expect_error(vr::test::tokenizer_json(model, nullptr, nullptr, json{{"type", "WordPiece"}}), "decoder 'WordPiece'");
  expect_error(vr::test::tokenizer_json(model, nullptr, nullptr, nullptr, json{{"type", "BertProcessing"}}),
               "post_processor 'BertProcessing'");
  expect_error(vr::test::tokenizer_json(model, nullptr,
                                        json{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}}),
               "cannot compile regex");
  try {
    Tokenizer::from_path("/nonexistent/dir");
    ADD_FAILURE() << "expected an error";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir"), std::string::npos);
  }
}

TEST(TokenizerBpe, DecodeUnknownIdThrows) {
  Tokenizer tok = load(vr::test::tokenizer_json(vr::test::bpe_model({"a", "b"}, {})));
  EXPECT_THROW(tok.decode({0, 7}), vr::Error);
  EXPECT_THROW(tok.decode({-200}), vr::Error);
  EXPECT_THROW(tok.id_to_token(2), vr::Error);
  EXPECT_EQ(tok.decode({0, 1}), "a b");  // no decoder: tokens joined by spaces, as in `tokenizers`
}

// The word cache must not change results: the same word gives the same ids cold and warm, including
// a word longer than the cache's key limit.
TEST(TokenizerBpe, CacheIsTransparent) {
  json model = vr::test::bpe_model({"a", "b", "ab", "abab"}, {"a b", "ab ab"});
  Tokenizer tok = load(vr::test::tokenizer_json(model));
  std::string long_word;
  for (int i = 0; i < 300; ++i) long_word += "ab";
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(tok.encode("ababab", false), (Ids{3, 2}));
    EXPECT_EQ(tok.encode(long_word, false), Ids(150, 3));
  }
}

}  // namespace

}  // namespace text_tokenizer_bpe_test
