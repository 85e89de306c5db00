// JSON / JSONL datasets: lazy indexing, record parsing, bad-record errors, and a randomized robustness test.
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/data/json_dataset.h"

namespace data_dataset_test {

using namespace vr::data;

namespace {

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

nlohmann::json three_records() {
  return nlohmann::json::parse(R"([
    {"id": "a", "image": "coco/1.jpg",
     "conversations": [{"from": "human", "value": "<image>\nWhat is it? [x], {y}"}, {"from": "gpt", "value": "A \"cat\"."}]},
    {"id": 7, "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there"}]},
    {"id": "c", "images": ["x.png", "y.png"],
     "conversations": [{"from": "human", "value": "<image> vs <image>"}, {"from": "gpt", "value": "same"}]}
  ])");
}

std::string error_of(const Dataset& ds, int64_t i) {
  try {
    ds.get(i);
  } catch (const vr::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(JsonDataset, ListAndJsonlGiveTheSameRecords) {
  auto dir = vr::test::temp_dir("json_dataset");
  auto recs = three_records();
  std::string jsonl;
  for (const auto& r : recs) jsonl += r.dump() + "\n";
  for (const std::string& path : {write_file(dir, "d.json", recs.dump(2)), write_file(dir, "d.jsonl", "\n" + jsonl + "\n\n"),
                                   write_file(dir, "compact.json", recs.dump())}) {
    JsonDataset ds(path, "/imgs");
    ASSERT_EQ(ds.size(), 3) << path;
    Sample a = ds.get(0);
    EXPECT_EQ(a.id, "a");
    ASSERT_EQ(a.image_paths.size(), 1u);
    EXPECT_EQ(a.image_paths[0], "/imgs/coco/1.jpg");
    ASSERT_EQ(a.conversations.size(), 2u);
    EXPECT_EQ(a.conversations[0].value, "<image>\nWhat is it? [x], {y}");
    EXPECT_EQ(a.conversations[1].value, "A \"cat\".");
    Sample b = ds.get(1);
    EXPECT_EQ(b.id, "7");
    EXPECT_EQ(b.num_images(), 0);
    EXPECT_EQ(ds.get(2).image_paths, (std::vector<std::string>{"/imgs/x.png", "/imgs/y.png"}));
    EXPECT_EQ(ds.modality_length(0), 8);  // words: <image> What is it? [x], {y} A "cat".
    EXPECT_EQ(ds.modality_length(1), -3);
    EXPECT_THROW(ds.get(3), vr::Error);
  }
}

TEST(JsonDataset, ManyRecordsIndexCorrectly) {
  auto dir = vr::test::temp_dir("json_dataset_many");
  const int n = 20000;
  std::string text = "[";
  for (int i = 0; i < n; ++i) {
    nlohmann::json r = {{"id", "r" + std::to_string(i)},
                        {"conversations", {{{"from", "human"}, {"value", "q ] } \\\" " + std::to_string(i)}},
                                           {{"from", "gpt"}, {"value", "a"}}}}};
    text += (i ? ",\n" : "\n") + r.dump();
  }
  text += "\n]\n";
  JsonDataset ds(write_file(dir, "many.json", text), "");
  ASSERT_EQ(ds.size(), n);
  for (int i : {0, 1, 777, 12345, n - 1}) {
    Sample s = ds.get(i);
    EXPECT_EQ(s.id, "r" + std::to_string(i));
    EXPECT_EQ(s.conversations[0].value, "q ] } \\\" " + std::to_string(i));
  }
}

TEST(JsonDataset, EmptyListIsEmpty) {
  auto dir = vr::test::temp_dir("json_dataset_empty");
  EXPECT_EQ(JsonDataset(write_file(dir, "e.json", " [ ] "), "").size(), 0);
}

TEST(JsonDataset, StructuralErrorsNameTheFile) {
  auto dir = vr::test::temp_dir("json_dataset_bad_file");
  struct Case {
    std::string text, expect;
  };
  for (const auto& c : std::vector<Case>{
           {"[{\"id\": 1}, {\"id\": \"unterminated}]", "unterminated string"},
           {"[{\"id\": 1}, {\"id\": 2}", "not closed"},
           {"[{\"id\": 1}] trailing", "after the closing"},
           {"[{\"id\": 1},, {\"id\": 2}]", "missing record"},
           {"[{\"id\": 1}}]", "unbalanced"},
           {"", "empty file"},
           {"\"just a string\"", "expected '['"},
       }) {
    auto path = write_file(dir, "bad.json", c.text);
    try {
      JsonDataset ds(path, "");
      ADD_FAILURE() << "no error for: " << c.text;
    } catch (const vr::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(JsonDataset(dir + "/missing.json", ""), vr::Error);
}

TEST(JsonDataset, BadRecordsNameFileIndexIdAndProblem) {
  auto dir = vr::test::temp_dir("json_dataset_bad_records");
  std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"id": "m1", "image": "a.jpg", "conversations": [{"from": "human", "value": "no placeholder"}, {"from": "gpt", "value": "x"}]})",
       "0 \"<image>\" placeholder(s) in the text but 1 image(s)"},
      {R"({"id": "m2", "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "x"}]})",
       "1 \"<image>\" placeholder(s) in the text but 0 image(s)"},
      {R"({"id": "r", "conversations": [{"from": "user", "value": "Q"}]})", "unknown role 'user'"},
      {R"({"id": "e", "conversations": []})", "empty conversation"},
      {R"({"id": "n", "conversation": []})", "missing \"conversations\""},
      {R"({"id": "t", "conversations": [{"from": "human", "value": 3}]})", "missing string \"value\""},
      {R"({"id": "i", "image": 5, "conversations": [{"from": "human", "value": "Q"}]})", "\"image\" must be"},
      {R"([1, 2])", "not a JSON object"},
      {R"({"id": "broken", "conversations": [{"from": "human" "value": "Q"}]})", "malformed JSON"},
  };
  std::string jsonl;
  for (const auto& c : cases) jsonl += c.first + "\n";
  auto path = write_file(dir, "bad.jsonl", jsonl);
  JsonDataset ds(path, "");
  ASSERT_EQ(ds.size(), static_cast<int64_t>(cases.size()));
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string msg = error_of(ds, static_cast<int64_t>(i));
    EXPECT_NE(msg.find(path + ": record " + std::to_string(i) + " (id '"), std::string::npos) << msg;
    EXPECT_NE(msg.find(cases[i].second), std::string::npos) << msg;
  }
  EXPECT_NE(error_of(ds, 0).find("(id 'm1')"), std::string::npos);
  EXPECT_NE(error_of(ds, 8).find("(id '?')"), std::string::npos);  // unparseable: id unknown
}

TEST(JsonDataset, BadRecordsAreCountedOnce) {
  auto dir = vr::test::temp_dir("json_dataset_count");
  JsonDataset ds(write_file(dir, "d.jsonl", "{}\n{}\n"), "");
  ds.report_bad_record(1, "x");
  ds.report_bad_record(1, "x");
  ds.report_bad_record(0, "y");
  EXPECT_EQ(ds.bad_record_count(), 2);
}

// Randomly corrupted files: opening and reading every record either works or throws vr::Error. Never a crash.
TEST(JsonDataset, RandomlyCorruptedFilesNeverCrash) {
  auto dir = vr::test::temp_dir("json_dataset_fuzz");
  const std::string good = three_records().dump(1);
  std::string jsonl;
  for (const auto& r : three_records()) jsonl += r.dump() + "\n";
  std::mt19937 rng(1234);
  const std::string alphabet = "[]{}\",:\\ \n0a<image>\x80\xff";
  int opened = 0, thrown = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string text = iter % 2 ? good : jsonl;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(at, 1 + rng() % 8); break;
        case 2: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        default: text.resize(at); break;
      }
    }
    auto path = write_file(dir, iter % 2 ? "f.json" : "f.jsonl", text);
    try {
      JsonDataset ds(path, "img");
      ++opened;
      for (int64_t i = 0; i < ds.size(); ++i) {
        try {
          Sample s = ds.get(i);
          (void)s;
        } catch (const vr::Error&) {
          ++thrown;
        }
      }
    } catch (const vr::Error&) {
      ++thrown;
    }
  }
  EXPECT_GT(opened, 0);
  EXPECT_GT(thrown, 0);
}

}  // namespace data_dataset_test
