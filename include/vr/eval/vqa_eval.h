// `vrtrain eval --task vqa`: LLaVA's model_vqa protocol, so LLaVA's and lmms-eval's scorers read the output as is.
//   questions (JSONL): {"question_id": str|int, "image": "rel/path.jpg" (optional: text-only), "text": "...",
//                       "category": "..." (optional), "answer": "..." (optional: enables the accuracy below)}
//   prompt:  "<image>\n" + text (+ suffix) as the human turn of the template; the generation prompt ends with
//            the assistant role ("... ASSISTANT:"); greedy decoding.
//   answers (JSONL, one line per question, appended and flushed as they come):
//            {"question_id", "prompt": text as sent (without "<image>"), "text": the model's answer,
//             "answer_id": shortuuid-style 22 characters, "model_id": LLaVA's model name, "metadata": {}}
// Resumable: question ids already in the answers file are skipped, so an interrupted run continues.
// Accuracy (only for questions with "answer"): exact match after lower-casing, trimming and dropping a final '.',
// overall and per category; the official scorers stay the reference for benchmark numbers.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace vr::eval {

class EvalModel;

// LLaVA's short-answer instruction (the conv_mode prompt suffix of its VQAv2 / GQA / TextVQA / POPE question files).
constexpr const char* kShortAnswerSuffix = "\nAnswer the question using a single word or phrase.";

struct VqaOptions {
  std::string questions, image_folder, answers;
  std::string suffix;           // appended to every question's text unless it already ends with it
  int64_t max_new_tokens = 128;
  int64_t batch_size = 4;       // prompts generated together (left-padded)
  std::string model_id;         // default: model_name_from_path(model dir)
  std::function<void(int64_t, int64_t)> progress;  // (answered this run, to answer this run)
};

struct CategoryScore {
  int64_t correct = 0, total = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

struct VqaReport {
  int64_t questions = 0;  // in the question file
  int64_t skipped = 0;    // already answered by an earlier run
  int64_t answered = 0;   // answered now
  CategoryScore scored;   // questions with a reference answer
  std::map<std::string, CategoryScore> by_category;
  nlohmann::json metrics() const;  // {questions, answered_now, skipped, [accuracy, scored, by_category]}
};

// Checks every question (id, text, image present) before answering any; errors name the record.
VqaReport run_vqa(EvalModel& model, const VqaOptions& opt);

// The normalisation of the exact-match accuracy above.
std::string normalize_answer(const std::string& s);
// 22 characters of shortuuid's alphabet (what LLaVA writes as answer_id).
std::string short_uuid();

}  // namespace vr::eval
