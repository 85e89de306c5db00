// Added tokens and BOS/EOS handling on synthetic tokenizers: leftmost-longest matching, lstrip / rstrip /
// single_word, normalized tokens, skip_special_tokens, the post-processor and tokenizer_config flags.
#include <gtest/gtest.h>

#include "text/tokenizer_test_util.h"
#include "vr/core/error.h"
#include "vr/text/tokenizer.h"

namespace text_tokenizer_added_tokens_test {

namespace {

using nlohmann::json;
using vr::text::Tokenizer;
using Ids = std::vector<int64_t>;

// Byte-level vocabulary (ids 0..255 = bytes) with added tokens from id 300 on.
json byte_level_tokenizer(json added, json post = nullptr) {
  json model = vr::test::bpe_model(vr::test::byte_level_vocab({}), {});
  json pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  return vr::test::tokenizer_json(model, nullptr, pre, json{{"type", "ByteLevel"}}, post, added);
}

Tokenizer load(const json& tj, const json& config = nullptr) {
  return Tokenizer::from_path(vr::test::write_tokenizer("added", tj, config));
}

TEST(TokenizerAddedTokens, LeftmostLongestExactMatch) {
  Tokenizer tok = load(byte_level_tokenizer(json::array({vr::test::added_token(300, "<|a|>"),
                                                         vr::test::added_token(301, "<|a|><|b|>"),
                                                         vr::test::added_token(302, "<|b|>")})));
  EXPECT_EQ(tok.encode("x<|a|><|b|>y", false), (Ids{'x', 301, 'y'}));
  EXPECT_EQ(tok.encode("<|a|><|a|>", false), (Ids{300, 300}));
  EXPECT_EQ(tok.encode("<|A|>", false), (Ids{'<', '|', 'A', '|', '>'}));  // case-sensitive
  EXPECT_EQ(tok.encode("<|a |>", false).size(), 6u);                      // near miss stays text
  EXPECT_EQ(tok.vocab_size(), 256 + 3);
}

TEST(TokenizerAddedTokens, StripAndSingleWord) {
  Tokenizer tok = load(byte_level_tokenizer(json::array({
      vr::test::added_token(300, "<L>", true, /*lstrip=*/true),
      vr::test::added_token(301, "<R>", true, false, /*rstrip=*/true),
      vr::test::added_token(302, "word", false, false, false, /*single_word=*/true)})));
  EXPECT_EQ(tok.encode("a  <L>b", false), (Ids{'a', 300, 'b'}));        // spaces before <L> are swallowed
  EXPECT_EQ(tok.encode("a<R> \t b", false), (Ids{'a', 301, 'b'}));      // spaces after <R> are swallowed
  EXPECT_EQ(tok.encode("a word b", false), (Ids{'a', ' ', 302, ' ', 'b'}));
  EXPECT_EQ(tok.encode("swords", false), (Ids{'s', 'w', 'o', 'r', 'd', 's'}));  // inside a word: plain text
}

TEST(TokenizerAddedTokens, NormalizedTokensMatchAfterNormalization) {
  json tj = byte_level_tokenizer(json::array({vr::test::added_token(300, "x_y", false, false, false, false, /*normalized=*/true)}));
  tj["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", "-"}}}, {"content", "_"}};
  Tokenizer tok = load(tj);
  EXPECT_EQ(tok.encode("ax-yb", false), (Ids{'a', 300, 'b'}));
}

TEST(TokenizerAddedTokens, SkipSpecialTokensOnlySkipsSpecialOnes) {
  Tokenizer tok = load(byte_level_tokenizer(json::array({vr::test::added_token(300, "<s>", true),
                                                         vr::test::added_token(301, "<extra>", false)})));
  Ids ids = tok.encode("<s>hi<extra>", false);
  EXPECT_EQ(ids, (Ids{300, 'h', 'i', 301}));
  EXPECT_EQ(tok.decode(ids), "<s>hi<extra>");
  EXPECT_EQ(tok.decode(ids, true), "hi<extra>");
  EXPECT_TRUE(tok.is_special(300));
  EXPECT_FALSE(tok.is_special(301));
}

json template_post(const std::string& bos, int bos_id, const std::string& eos, int eos_id) {
  return {{"type", "TemplateProcessing"},
          {"single", json::array({json{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                  json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                  json{{"SpecialToken", {{"id", eos}, {"type_id", 0}}}}})},
          {"pair", json::array()},
          {"special_tokens", {{bos, {{"id", bos}, {"ids", {bos_id}}, {"tokens", {bos}}}},
                              {eos, {{"id", eos}, {"ids", {eos_id}}, {"tokens", {eos}}}}}}};
}

TEST(TokenizerAddedTokens, TemplateProcessingAndConfigFlags) {
  json added = json::array({vr::test::added_token(300, "<bos>"), vr::test::added_token(301, "<eos>")});
  json tj = byte_level_tokenizer(added, template_post("<bos>", 300, "<eos>", 301));
  json config = {{"bos_token", "<bos>"}, {"eos_token", {{"content", "<eos>"}}}, {"tokenizer_class", "PreTrainedTokenizerFast"}};
  Tokenizer tok = load(tj, config);
  EXPECT_EQ(tok.encode("hi"), (Ids{300, 'h', 'i', 301}));
  EXPECT_EQ(tok.encode("hi", false), (Ids{'h', 'i'}));
  EXPECT_TRUE(tok.adds_bos());
  EXPECT_TRUE(tok.adds_eos());
  EXPECT_EQ(tok.bos_id(), 300);
  EXPECT_EQ(tok.eos_id(), 301);

  config["add_eos_token"] = false;  // an explicit flag overrides the file's template
  Tokenizer no_eos = load(tj, config);
  EXPECT_EQ(no_eos.encode("hi"), (Ids{300, 'h', 'i'}));
  EXPECT_FALSE(no_eos.adds_eos());

  // Llama classes build the template from the flags, defaulting to BOS only (transformers' LlamaTokenizer).
  json llama_config = {{"bos_token", "<bos>"}, {"eos_token", "<eos>"}, {"tokenizer_class", "LlamaTokenizerFast"}};
  Tokenizer llama = load(byte_level_tokenizer(added), llama_config);
  EXPECT_EQ(llama.encode("hi"), (Ids{300, 'h', 'i'}));
  llama_config["add_eos_token"] = true;
  EXPECT_EQ(load(byte_level_tokenizer(added), llama_config).encode("hi"), (Ids{300, 'h', 'i', 301}));
  llama_config["add_bos_token"] = false;
  EXPECT_EQ(load(byte_level_tokenizer(added), llama_config).encode(""), (Ids{301}));
}

TEST(TokenizerAddedTokens, ConfigTokenMustExist) {
  EXPECT_THROW(load(byte_level_tokenizer(json::array()), json{{"bos_token", "<missing>"}}), vr::Error);
}

}  // namespace

}  // namespace text_tokenizer_added_tokens_test
