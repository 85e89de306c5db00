// End to end: the real `vrtrain data-check` binary on a small JSONL with good and bad records.
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "support/fixtures.h"

namespace data_dataset_check_test {

namespace {

struct CliRun {
  int status = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  CliRun r;
  std::string cmd = std::string(VRTRAIN_BIN) + " data-check " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// 2x1 24-bit BMP.
std::string tiny_bmp() {
  std::string b(54 + 8, '\0');
  auto put32 = [&](int at, uint32_t v) {
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<char>((v >> (8 * k)) & 0xff);
  };
  b[0] = 'B', b[1] = 'M';
  put32(2, static_cast<uint32_t>(b.size()));
  put32(10, 54), put32(14, 40), put32(18, 2), put32(22, 1);
  b[26] = 1, b[28] = 24;
  put32(34, 8);
  return b;
}

}  // namespace

TEST(DataCheckCli, ReportsEveryBadRecordAndExitsNonZero) {
  auto dir = vr::test::temp_dir("data_check");
  std::ofstream(dir + "/ok.bmp", std::ios::binary) << tiny_bmp();
  std::ofstream(dir + "/bad.png", std::ios::binary) << "not a png";
  std::ofstream(dir + "/d.jsonl")
      << R"({"id": "a", "image": "ok.bmp", "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]})" "\n"
      << R"({"id": "b", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]})" "\n"
      << R"({"id": "c", "image": "bad.png", "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]})" "\n"
      << R"({"id": "d", "conversations": [{"from": "robot", "value": "Q"}]})" "\n"
      << R"({"id": "e", "conversations": []})" "\n";
  const std::string file = dir + "/d.jsonl";
  CliRun r = run("--data " + file + " --image-folder " + dir);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(file + ": record 2 (id 'c'): "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(file + ": record 3 (id 'd'): turn 0: unknown role 'robot'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(file + ": record 4 (id 'e'): empty conversation"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("record 0 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("record 1 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("5 records checked: 3 bad, 1 with images (1 images), 1 text-only"), std::string::npos) << r.out;

  // Only good records: exit 0. --no-decode does not open images.
  std::ofstream(dir + "/good.jsonl")
      << R"({"id": "a", "image": "bad.png", "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]})" "\n";
  CliRun good = run("--data " + dir + "/good.jsonl --image-folder " + dir + " --no-decode");
  EXPECT_EQ(good.status, 0) << good.out;

  if (vr::test::have_fixture("tokenizers/llama2")) {
    CliRun tok = run("--data " + dir + "/good.jsonl --image-folder " + dir +
                  " --no-decode --template vicuna_v1 --tokenizer " + vr::test::fixtures_dir() + "/tokenizers/llama2");
    EXPECT_EQ(tok.status, 0) << tok.out;
    EXPECT_NE(tok.out.find("0 tokenization mismatches"), std::string::npos) << tok.out;
  }
  EXPECT_EQ(run("--bogus").status, 2);
  CliRun help = run("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);
  EXPECT_EQ(run("--data " + file + " --template nope").status, 1);  // unknown template: a clear error
}

}  // namespace data_dataset_check_test
