// Randomized robustness: random bytes, invalid UTF-8, long runs and random id lists go through encode and
// decode without crashing; valid UTF-8 round-trips exactly through the byte-level (Llama-3) tokenizer;
// concurrent encoding from several threads gives the same ids as one thread.
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "text/tokenizer_test_util.h"
#include "text/tokenizer_text.h"
#include "vr/core/error.h"
#include "vr/text/tokenizer.h"

namespace text_tokenizer_robustness_test {

namespace {

using vr::text::Tokenizer;

// Random text mixing ASCII, whitespace runs, multi-byte chars, special-token fragments and (optionally)
// arbitrary bytes.
std::string random_text(std::mt19937& rng, bool valid_utf8) {
  static const std::vector<std::string> atoms = {
      "a", "Z", "7", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", ".", "!?", "\xC2\xA0", "\xE3\x80\x80", "\xC2\x85",
      "\xC3\xA9", "e\xCC\x81", "\xE4\xB8\xAD", "\xF0\x9F\x91\x8D", "\xF0\x9F\x8F\xBD", "\xE2\x96\x81", "<|eot_id|>",
      "<|eot", "</s>", "<s>", "<unk>", "<0x0A>", "\xEF\xBF\xBD", "\xF4\x8F\xBF\xBF", std::string("\0", 1), "1234"};
  std::string s;
  int n = std::uniform_int_distribution<int>(0, 60)(rng);
  for (int i = 0; i < n; ++i) {
    if (!valid_utf8 && rng() % 4 == 0) s += static_cast<char>(rng() & 0xFF);
    else s += atoms[rng() % atoms.size()];
  }
  return s;
}

std::string fixture(const std::string& model) { return vr::test::fixtures_dir() + "/tokenizers/" + model; }

TEST(TokenizerRobustness, RandomTextNeverCrashesAndByteLevelRoundTrips) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  Tokenizer llama3 = Tokenizer::from_path(fixture("llama3"));
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 1500; ++iter) {
    std::string text = random_text(rng, iter % 2 == 0);
    auto ids = llama3.encode(text, iter % 3 == 0);
    std::string back = llama3.decode(ids);
    // Invalid input is read as U+FFFD, so the round trip gives the repaired text.
    ASSERT_EQ(back, vr::text::tokenizer_detail::utf8_lossy(text)) << "iteration " << iter;
  }
}

TEST(TokenizerRobustness, SentencePieceStyleNeverCrashes) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  Tokenizer llama2 = Tokenizer::from_path(fixture("llama2"));
  std::mt19937 rng(99);
  for (int iter = 0; iter < 1000; ++iter) {
    std::string text = random_text(rng, iter % 2 == 0);
    auto ids = llama2.encode(text, true);
    if (iter % 2 == 0 && text.find("<unk>") == std::string::npos)
      for (int64_t id : ids) ASSERT_NE(id, 0) << "valid UTF-8 must never give <unk> with byte fallback";
    std::string back = llama2.decode(ids, true);
    EXPECT_TRUE(vr::text::tokenizer_detail::is_valid_utf8(back));
    // Without special tokens in the text, decoding gives the (repaired) text back.
    if (text.find('<') == std::string::npos && text.find("\xE2\x96\x81") == std::string::npos &&
        !text.empty() && text[0] != ' ')
      EXPECT_EQ(back, vr::text::tokenizer_detail::utf8_lossy(text)) << "iteration " << iter;
  }
}

TEST(TokenizerRobustness, LongRunsAndRandomIds) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  Tokenizer llama3 = Tokenizer::from_path(fixture("llama3"));
  for (const std::string& run : {std::string(20000, ' '), std::string(20000, 'a'), std::string(5000, '\n'),
                                 std::string(30000, '9')}) {
    auto ids = llama3.encode(run, false);
    EXPECT_EQ(llama3.decode(ids), run);
  }
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<int64_t> ids(rng() % 20);
    for (auto& id : ids) id = static_cast<int64_t>(rng() % llama3.vocab_size());
    EXPECT_TRUE(vr::text::tokenizer_detail::is_valid_utf8(llama3.decode(ids)));  // lossy, never invalid
    ids.push_back(llama3.vocab_size() + 5);
    EXPECT_THROW(llama3.decode(ids), vr::Error);
  }
}

TEST(TokenizerRobustness, ConcurrentEncodeMatchesSerial) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  Tokenizer llama3 = Tokenizer::from_path(fixture("llama3"));
  std::mt19937 rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) texts.push_back(random_text(rng, true));
  Tokenizer copy = llama3;  // copies share the state (and its word cache)
  std::vector<std::vector<int64_t>> serial;
  for (const auto& t : texts) serial.push_back(copy.encode(t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      Tokenizer local = llama3;
      for (size_t i = 0; i < texts.size(); ++i)
        if (local.encode(texts[(i + 97 * k) % texts.size()]) != serial[(i + 97 * k) % texts.size()]) ++mismatches[k];
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(mismatches[k], 0) << "thread " << k;
}

}  // namespace

}  // namespace text_tokenizer_robustness_test
