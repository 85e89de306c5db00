// Conformance with Hugging Face `tokenizers` 0.23.2 on shared/fixtures/tokenizers (Llama-3 and Llama-2):
// exact ids (no tolerance: token ids are integers) and exact decoded strings, for every case of cases.jsonl.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (moved here in fmt 11, which LibTorch 2.x bundles)
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/text/tokenizer.h"

namespace text_tokenizer_conformance_test {

namespace {

using nlohmann::json;
using vr::text::Tokenizer;

std::string dir_of(const std::string& model) { return vr::test::fixtures_dir() + "/tokenizers/" + model; }

std::vector<json> read_cases(const std::string& model) {
  std::ifstream in(dir_of(model) + "/cases.jsonl");
  std::vector<json> cases;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) cases.push_back(json::parse(line));
  return cases;
}

std::string show(const std::vector<int64_t>& ids) { return fmt::format("[{}]", fmt::join(ids, ", ")); }

// Loads a model once per test binary run (the Llama-3 file is 9 MB of JSON).
const Tokenizer& cached(const std::string& model) {
  static std::map<std::string, Tokenizer> loaded;
  auto it = loaded.find(model);
  if (it == loaded.end()) it = loaded.emplace(model, Tokenizer::from_path(dir_of(model))).first;
  return it->second;
}

void check_all_cases(const std::string& model) {
  const Tokenizer& tok = cached(model);
  auto cases = read_cases(model);
  ASSERT_GT(cases.size(), 100u);
  int failures = 0;
  for (const json& c : cases) {
    const std::string name = c.at("id").get<std::string>();
    const std::string text = c.at("text").get<std::string>();
    auto ids = tok.encode(text, false);
    auto ids_special = tok.encode(text, true);
    auto want = c.at("ids").get<std::vector<int64_t>>();
    auto want_special = c.at("ids_with_special").get<std::vector<int64_t>>();
    bool ok = true;
    if (ids != want) {
      ADD_FAILURE() << model << " " << name << ": encode(add_special_tokens=false)\n  got  " << show(ids) << "\n  want "
                    << show(want);
      ok = false;
    }
    if (ids_special != want_special) {
      ADD_FAILURE() << model << " " << name << ": encode(add_special_tokens=true)\n  got  " << show(ids_special)
                    << "\n  want " << show(want_special);
      ok = false;
    }
    auto check_decode = [&](const std::vector<int64_t>& input, bool skip, const char* field) {
      std::string got = tok.decode(input, skip);
      std::string exp = c.at(field).get<std::string>();
      if (got != exp) {
        ADD_FAILURE() << model << " " << name << ": " << field << "\n  got  '" << got << "'\n  want '" << exp << "'";
        ok = false;
      }
    };
    check_decode(want, false, "decoded");
    check_decode(want_special, false, "decoded_with_special");
    check_decode(want_special, true, "decoded_skip_special");
    if (!ok && ++failures >= 10) FAIL() << "stopping after 10 failing cases";
  }
}

TEST(TokenizerConformance, Llama3AllCases) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  check_all_cases("llama3");
}

TEST(TokenizerConformance, Llama2AllCases) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  check_all_cases("llama2");
}

TEST(TokenizerConformance, Llama3SpecialIdsAndFlags) {
  VR_REQUIRE_FIXTURE("tokenizers/llama3");
  const Tokenizer& tok = cached("llama3");
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_id(), 128001);  // this release's tokenizer_config: eos_token <|end_of_text|>
  EXPECT_FALSE(tok.pad_id());
  EXPECT_FALSE(tok.adds_bos());  // post_processor is a bare ByteLevel
  EXPECT_FALSE(tok.adds_eos());
  EXPECT_FALSE(tok.legacy());
  EXPECT_EQ(tok.token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(tok.token_to_id("Ġworld"), 1917);
  EXPECT_FALSE(tok.token_to_id("<|eom_id|>"));  // a Llama-3.1 name; plain text here
  EXPECT_EQ(tok.id_to_token(128006), "<|start_header_id|>");
  EXPECT_TRUE(tok.is_special(128009));
  EXPECT_FALSE(tok.is_special(9906));
}

TEST(TokenizerConformance, Llama2SpecialIdsAndFlags) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  const Tokenizer& tok = cached("llama2");
  EXPECT_EQ(tok.vocab_size(), 32000);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.unk_id(), 0);
  EXPECT_FALSE(tok.pad_id());
  EXPECT_TRUE(tok.adds_bos());
  EXPECT_FALSE(tok.adds_eos());
  EXPECT_TRUE(tok.legacy());  // the fixture's tokenizer_config says legacy: true
  EXPECT_EQ(tok.token_to_id("<0x0A>"), 13);
  EXPECT_EQ(tok.id_to_token(15043), "\xE2\x96\x81Hello");
}

// A copy of the Llama-2 directory whose tokenizer_config.json is changed by `edit`.
std::string llama2_with_config(const std::string& tag, const std::function<void(json&)>& edit) {
  std::string dir = vr::test::temp_dir(tag);
  std::filesystem::copy_file(dir_of("llama2") + "/tokenizer.json", dir + "/tokenizer.json");
  json config = json::parse(std::ifstream(dir_of("llama2") + "/tokenizer_config.json"));
  edit(config);
  std::ofstream(dir + "/tokenizer_config.json") << config.dump(2);
  return dir;
}

// legacy=false (LLaVA-1.5's Vicuna tokenizer): "▁" only at the start of the text, not after special tokens.
// Reference: transformers' slow LlamaTokenizer(legacy=False), field ids_legacy_false.
TEST(TokenizerConformance, Llama2LegacyFalse) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  Tokenizer tok = Tokenizer::from_path(llama2_with_config("legacy_false", [](json& c) { c["legacy"] = false; }));
  EXPECT_FALSE(tok.legacy());
  int differing = 0;
  for (const json& c : read_cases("llama2")) {
    auto want = c.at("ids_legacy_false").get<std::vector<int64_t>>();
    if (want != c.at("ids").get<std::vector<int64_t>>()) ++differing;
    EXPECT_EQ(show(tok.encode(c.at("text").get<std::string>(), false)), show(want)) << c.at("id");
  }
  EXPECT_GE(differing, 3);  // the cases where text follows <s>/</s>: the test would catch a legacy encoder
  EXPECT_EQ(tok.encode("<s> Hello </s>", false), (std::vector<int64_t>{1, 15043, 29871, 2}));
}

// LLaVA's tokenizer_image_token over our encode: split on "<image>", encode chunks with BOS, drop later BOSes,
// put -200 between. Checks that chunk-wise encoding (fresh "▁" per chunk) matches llava_input_ids.
std::vector<int64_t> llava_ids(const Tokenizer& tok, const std::string& prompt) {
  std::vector<std::vector<int64_t>> chunks;
  size_t prev = 0;
  for (size_t pos; (pos = prompt.find("<image>", prev)) != std::string::npos; prev = pos + 7)
    chunks.push_back(tok.encode(prompt.substr(prev, pos - prev), true));
  chunks.push_back(tok.encode(prompt.substr(prev), true));
  std::vector<int64_t> out;
  size_t offset = 0;
  if (!chunks[0].empty() && tok.bos_id() && chunks[0][0] == *tok.bos_id()) {
    offset = 1;
    out.push_back(chunks[0][0]);
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i) out.push_back(-200);
    out.insert(out.end(), chunks[i].begin() + std::min(offset, chunks[i].size()), chunks[i].end());
  }
  return out;
}

TEST(TokenizerConformance, LlavaImageTokenChunks) {
  VR_REQUIRE_FIXTURE("tokenizers/llama2");
  Tokenizer legacy_false = Tokenizer::from_path(llama2_with_config("llava", [](json& c) { c["legacy"] = false; }));
  int checked = 0;
  for (const std::string model : {"llama2", "llama3"}) {
    if (!vr::test::have_fixture("tokenizers/" + model)) continue;
    for (const json& c : read_cases(model)) {
      if (!c.contains("llava_input_ids")) continue;
      const std::string text = c.at("text").get<std::string>();
      EXPECT_EQ(show(llava_ids(cached(model), text)), show(c.at("llava_input_ids").get<std::vector<int64_t>>()))
          << model << " " << c.at("id");
      if (c.contains("llava_input_ids_legacy_false"))
        EXPECT_EQ(show(llava_ids(legacy_false, text)),
                  show(c.at("llava_input_ids_legacy_false").get<std::vector<int64_t>>()))
            << c.at("id");
      ++checked;
    }
  }
  EXPECT_GT(checked, 3);
}

}  // namespace

}  // namespace text_tokenizer_conformance_test
