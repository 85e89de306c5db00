// End to end: the real `vrtrain tokenize` binary in a shell pipe, JSON lines in, {"ids": [...]} lines out.
#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "text/tokenizer_test_util.h"

namespace e2e_tokenize_cli_test {

namespace {

using nlohmann::json;

struct Result {
  int status;
  std::string out;
};

// Runs `sh -c command`, capturing stdout (stderr is folded in when `with_stderr`).
Result run(const std::string& command, bool with_stderr = false) {
  std::string cmd = command + (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string out;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// A byte-level tokenizer with merges h+i → "hi" (id 256) and one special token <bos> (id 300) that the
// template adds.
std::string tiny_tokenizer_dir() {
  json model = vr::test::bpe_model(vr::test::byte_level_vocab({"hi"}), {"h i"});
  json pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  json post = {{"type", "TemplateProcessing"},
               {"single", json::array({json{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                       json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
               {"pair", json::array()},
               {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {300}}, {"tokens", {"<bos>"}}}}}}};
  json tj = vr::test::tokenizer_json(model, nullptr, pre, json{{"type", "ByteLevel"}}, post,
                                     json::array({vr::test::added_token(300, "<bos>")}));
  return vr::test::write_tokenizer("cli", tj);
}

std::string write_input(const std::string& dir, const std::string& content) {
  std::string path = dir + "/input.jsonl";
  std::ofstream(path) << content;
  return path;
}

TEST(TokenizeCli, JsonLinesInIdsOut) {
  std::string dir = tiny_tokenizer_dir();
  std::string input = write_input(dir, "{\"text\": \"hi\"}\n{\"text\": \"\", \"other\": 1}\n{\"text\": \"<bos>hi a\"}\n");
  std::string bin = VRTRAIN_BIN;
  Result plain = run("cat " + input + " | " + bin + " tokenize --tokenizer " + dir);
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(plain.out, "{\"ids\":[256]}\n{\"ids\":[]}\n{\"ids\":[300,256,32,97]}\n");  // 32 = "Ġ" (byte 0x20), 97 = "a"
  Result special = run("cat " + input + " | " + bin + " tokenize --add-special-tokens --tokenizer " + dir + "/tokenizer.json");
  EXPECT_EQ(special.status, 0);
  EXPECT_EQ(special.out, "{\"ids\":[300,256]}\n{\"ids\":[300]}\n{\"ids\":[300,300,256,32,97]}\n");
}

TEST(TokenizeCli, BadLineNamesItsNumber) {
  std::string dir = tiny_tokenizer_dir();
  std::string bin = VRTRAIN_BIN;
  Result bad_json = run("printf '{\"text\": \"hi\"}\\n{oops\\n' | " + bin + " tokenize --tokenizer " + dir, true);
  EXPECT_EQ(bad_json.status, 1);
  EXPECT_NE(bad_json.out.find("{\"ids\":[256]}"), std::string::npos);  // line 1 was still answered
  EXPECT_NE(bad_json.out.find("line 2"), std::string::npos) << bad_json.out;
  Result no_text = run("printf '{\"txt\": 1}\\n' | " + bin + " tokenize --tokenizer " + dir, true);
  EXPECT_EQ(no_text.status, 1);
  EXPECT_NE(no_text.out.find("line 1"), std::string::npos) << no_text.out;
  Result missing = run(bin + " tokenize --tokenizer " + dir + "/nope < /dev/null", true);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("nope"), std::string::npos) << missing.out;
  Result usage = run(bin + " tokenize < /dev/null", true);
  EXPECT_EQ(usage.status, 2);
}

TEST(TokenizeCli, HelpTeaches) {
  Result help = run(std::string(VRTRAIN_BIN) + " tokenize --help");
  EXPECT_EQ(help.status, 0);
  for (const char* needle : {"--tokenizer", "--add-special-tokens", "\"text\"", "\"ids\"", "Example"})
    EXPECT_NE(help.out.find(needle), std::string::npos) << needle;
}

TEST(TokenizeCli, Llama3FixtureIds) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  std::string dir = vr::test::temp_dir("cli_llama3");
  std::string input = write_input(dir, "{\"text\": \"<|start_header_id|>user<|end_header_id|>\\n\\nHi there!<|eot_id|>\"}\n");
  Result r = run("cat " + input + " | " + std::string(VRTRAIN_BIN) + " tokenize --tokenizer " +
                 vr::test::fixtures_dir() + "/tokenizers/llama3");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "{\"ids\":[128006,882,128007,271,13347,1070,0,128009]}\n");
}

}  // namespace

}  // namespace e2e_tokenize_cli_test
