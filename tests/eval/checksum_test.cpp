// SHA-256 against FIPS 180-4 / sha256sum values, across the one- and two-block padding boundaries.
#include <gtest/gtest.h>

#include <fstream>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/eval/checksum.h"
#include "vr/eval/eval_summary.h"

namespace vr::eval::checksum_test {
namespace {

TEST(EvalChecksum, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 55 / 56 bytes: the length still fits the last block / needs a second one.
  EXPECT_EQ(sha256_hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_EQ(sha256_hex(std::string(1000, 'x')), "44f8354494a5ba03ba1792a8d3e9c534c47a9181980fde7a3f44b06ef2ae7c7f");
}

TEST(EvalChecksum, FileMatchesBytesAndMissingFileIsNamed) {
  const std::string path = vr::test::temp_dir("checksum") + "/f.bin";
  std::string bytes;
  for (int i = 0; i < 200000; ++i) bytes += static_cast<char>(i * 7 % 251);  // spans several read buffers
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(sha256_file(path), sha256_hex(bytes));
  try {
    sha256_file(path + ".missing");
    FAIL() << "no error";
  } catch (const vr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.bin.missing"), std::string::npos) << e.what();
  }
}

TEST(EvalSummary, ModelNamesAndSummaryPaths) {
  EXPECT_EQ(model_name_from_path("runs/a/final/"), "final");
  EXPECT_EQ(model_name_from_path("/ckpt/llava-v1.5-7b"), "llava-v1.5-7b");
  EXPECT_EQ(model_name_from_path("runs/exp1/checkpoint-500"), "exp1_checkpoint-500");  // LLaVA's rule
  EXPECT_EQ(summary_path_for("out/answers.jsonl", "vqa"), "out/answers.summary.json");
  EXPECT_EQ(summary_path_for("out/r.json", "mc"), "out/r.summary.json");
  EvalSummary s;
  s.model = "m";
  s.task = "mc";
  s.n = 3;
  s.metrics = {{"accuracy", 0.5}};
  s.data = {{"q.jsonl", "ab"}};
  const EvalSummary back = EvalSummary::from_json(s.to_json());
  EXPECT_EQ(back.task, "mc");
  EXPECT_EQ(back.n, 3);
  EXPECT_EQ(back.data.at(0).sha256, "ab");
  EXPECT_THROW(EvalSummary::from_json({{"task", "x"}}), vr::Error);
}

}  // namespace
}  // namespace vr::eval::checksum_test
