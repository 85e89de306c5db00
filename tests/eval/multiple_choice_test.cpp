// Reading multiple-choice records (every accepted layout, every rejected one) and parsing answer letters.
#include <gtest/gtest.h>

#include <fstream>

#include "support/fixtures.h"
#include "vr/core/error.h"
#include "vr/eval/multiple_choice.h"

namespace vr::eval::multiple_choice_test {
namespace {

std::string file_with(const std::string& text) {
  const std::string p = vr::test::temp_dir("mc_records") + "/q.jsonl";
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::string& text, bool text_only = false) {
  try {
    read_mc_questions(file_with(text), "", text_only);
  } catch (const vr::Error& e) {
    return e.what();
  }
  return "";
}

TEST(EvalMultipleChoice, ParsesLetters) {
  EXPECT_EQ(parse_option_letter("B", 4), 1);
  EXPECT_EQ(parse_option_letter(" C.", 4), 2);
  EXPECT_EQ(parse_option_letter("(A) a circle", 4), 0);
  EXPECT_EQ(parse_option_letter("D: star", 4), 3);
  EXPECT_EQ(parse_option_letter("BBBB", 4), 1);
  EXPECT_EQ(parse_option_letter("The answer is C.", 4), 2);
  EXPECT_EQ(parse_option_letter("Because it is red", 4), -1);
  EXPECT_EQ(parse_option_letter("D", 3), -1);  // no option D
  EXPECT_EQ(parse_option_letter("", 4), -1);
}

TEST(EvalMultipleChoice, ReadsEveryLayout) {
  auto qs = read_mc_questions(file_with(
      R"({"question_id": 1, "question": "q", "options": ["a", "b"], "answer": "B"}
{"index": 2, "question": "q", "hint": "h", "A": "x", "B": "y", "C": "z", "D": null, "answer": "C", "category": "c"}
{"id": "t3", "question": "q", "options": {"A": "1", "B": "2", "C": "3"}, "answer": 0}
)"),
                              "", false);
  ASSERT_EQ(qs.size(), 3u);
  EXPECT_EQ(qs[0].options.size(), 2u);
  EXPECT_EQ(qs[0].answer, 1);
  EXPECT_EQ(qs[1].options.size(), 3u);  // MMBench leaves D empty
  EXPECT_EQ(qs[1].hint, "h");
  EXPECT_EQ(qs[1].category, "c");
  EXPECT_EQ(qs[2].answer, 0);
  EXPECT_EQ(qs[2].id, "t3");
  // text-mc: MMLU records without ids get their line.
  auto t = read_mc_questions(file_with(R"({"question": "q", "choices": ["a", "b", "c", "d"], "answer": 3, "subject": "s"})"),
                             "", true);
  EXPECT_EQ(t[0].id, "line 1");
  EXPECT_EQ(t[0].category, "s");
}

TEST(EvalMultipleChoice, RejectsBadRecordsByName) {
  EXPECT_NE(error_of(R"({"question": "q", "options": ["a", "b"], "answer": "A"})").find("line 1: the question has no id"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "options": ["a"], "answer": "A"})").find("(id '5'): 1 option(s)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "options": {"A": "a", "C": "c"}, "answer": "A"})").find("without gaps"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "options": {"A": "a", "Z": "c"}, "answer": "A"})").find("A-D"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "options": ["a", "b"], "answer": "C"})").find("not one of the 2 options"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "options": ["a", "b"]})").find("no 'answer'"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "options": ["a", "b"], "answer": "A"})").find("no 'question'"), std::string::npos);
  EXPECT_NE(error_of("{\"id\": 1, \"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": \"A\"}\n{oops\n")
                .find("line 2: not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "image": "x.png", "options": ["a", "b"], "answer": "A"})", true)
                .find("text-mc records carry no image"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 5, "question": "q", "image": "nope.png", "options": ["a", "b"], "answer": "A"})")
                .find("image 'nope.png' does not exist"),
            std::string::npos);
  EXPECT_NE(error_of("\n\n").find("holds no record"), std::string::npos);
}

}  // namespace
}  // namespace vr::eval::multiple_choice_test
