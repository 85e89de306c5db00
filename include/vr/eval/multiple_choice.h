// `vrtrain eval --task mc` (ScienceQA / MMBench / SEED style, optional image) and `--task text-mc` (MMLU style,
// text only: are the LLM's text skills preserved after visual tuning?).
//
// Records (JSONL or a JSON list); options A–D (2 to 4 of them), the answer as a letter or a 0-based index:
//   {"question_id"|"id"|"index": ..., "question": "...", "hint": "..." (optional),
//    "options": ["...", "..."] | {"A": "...", "B": "..."}   or MMBench's top-level "A", "B", "C", "D" keys
//    | "choices": [...] (MMLU), "answer": "B" | 1, "image": "rel.jpg" (mc only, optional),
//    "category" | "subject" (optional)}
// text-mc records may omit the id (MMLU files have none): the line number is used.
//
// Methods:
//   letter      LLaVA's model_vqa_mmbench / model_vqa_science prompt: [<image>\n] [hint\n] question, then
//               "\nA. opt" per option, then "\nAnswer with the option's letter from the given choices directly.";
//               greedy generation; the prediction is the leading option letter of the answer ("B", "B.", "B) x").
//   likelihood  every option's text scored as the assistant's answer to [<image>\n] [hint\n] question (sum of
//               log-probabilities of its tokens and the turn terminator); the best option is the prediction.
// Circular (MMBench): the question is asked once per rotation of its options (A B C D, B C D A, ...), the
// letters following their options; it counts as right only when every rotation is right.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vr::eval {

class EvalModel;

constexpr const char* kLetterPrompt = "Answer with the option's letter from the given choices directly.";

struct McQuestion {
  nlohmann::json id;
  std::string question, hint, image;  // image: resolved path, "" without one
  std::vector<std::string> options;   // options[i] goes with letter 'A' + i
  int answer = 0;                     // index into options
  std::string category;
};

// Reads and checks every record; vr::Error naming file, line and id for: no id (mc), no question, fewer than 2
// or more than 4 options, option letters outside A–D or with gaps, an answer that is not one of the options,
// a missing image file, an image in a text-mc record.
std::vector<McQuestion> read_mc_questions(const std::string& path, const std::string& image_folder, bool text_only);

struct McOptions {
  std::string questions, image_folder;
  bool text_only = false;           // text-mc
  std::string method = "letter";    // letter | likelihood
  bool circular = false;
  int64_t max_new_tokens = 8;       // letter: the answer is one letter
  int64_t batch_size = 4;           // letter: prompts generated together
  std::string results;              // optional JSONL: one line per question and rotation
  std::function<void(int64_t, int64_t)> progress;
};

struct McScore {
  int64_t correct = 0, total = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

struct McReport {
  McScore overall;                     // per question (circular: all rotations right)
  McScore rotations;                   // per asked prompt (= overall without --circular)
  int64_t unparsed = 0;                // letter: answers without a leading option letter (counted wrong)
  double chance = 0;                   // mean of 1 / options (circular: of the product over rotations)
  std::map<std::string, McScore> by_category;
  nlohmann::json metrics() const;      // {accuracy, chance, questions, [rotation_accuracy], unparsed, by_category}
  std::string table() const;
};

McReport run_multiple_choice(EvalModel& model, const McOptions& opt);

// The letter a generated answer starts with, among the first n_options letters; -1 when none. Accepts "B",
// "B.", "B)", "(B)", "B: text", "B text", "The answer is B."; rejects words such as "Because".
int parse_option_letter(const std::string& answer, int n_options);

}  // namespace vr::eval
