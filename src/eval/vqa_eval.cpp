#include "vr/eval/vqa_eval.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>
#include <set>

#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/jsonl.h"
#include "vr/data/conversation.h"
#include "vr/eval/eval_model.h"
#include "vr/eval/eval_records.h"
#include "vr/eval/eval_summary.h"

namespace fs = std::filesystem;

namespace vr::eval {

namespace {

struct Question {
  nlohmann::json id;
  std::string image;   // resolved path, "" for text-only
  std::string prompt;  // text + suffix (LLaVA's cur_prompt)
  std::string category, answer;
  bool has_answer = false;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string normalize_answer(const std::string& s) {
  std::string t = vr::data::strip_whitespace(s);
  while (!t.empty() && t.back() == '.') t.pop_back();
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return vr::data::strip_whitespace(t);
}

std::string short_uuid() {
  static const char* alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";  // shortuuid's 57
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(22, ' ');
  for (char& c : s) c = alphabet[rng() % 57];
  return s;
}

nlohmann::json VqaReport::metrics() const {
  nlohmann::json j = {{"questions", questions}, {"answered_now", answered}, {"skipped", skipped}};
  if (scored.total > 0) {
    j["accuracy"] = scored.accuracy();
    j["scored"] = scored.total;
    for (const auto& [c, s] : by_category)
      j["by_category"][c] = {{"accuracy", s.accuracy()}, {"correct", s.correct}, {"total", s.total}};
  }
  return j;
}

VqaReport run_vqa(EvalModel& em, const VqaOptions& opt) {
  VR_CHECK(!opt.questions.empty(), "eval --task vqa: --questions FILE is required");
  VR_CHECK(!opt.answers.empty(), "eval --task vqa: --answers FILE is required");
  VR_CHECK(opt.batch_size > 0, "eval --task vqa: --batch-size must be > 0");
  // 1. Read and check every question first: a bad record stops the run before any answer is written.
  std::vector<Question> qs;
  std::set<std::string> seen;
  for (const Record& r : read_records(opt.questions)) {
    Question q;
    q.id = record_id(opt.questions, r, {"question_id"});
    VR_CHECK(seen.insert(id_key(q.id)).second, "{}", record_problem(opt.questions, r, "duplicate question_id"));
    std::string text = string_field(opt.questions, r, "text");
    if (!opt.suffix.empty() && !ends_with(text, opt.suffix)) text += opt.suffix;
    q.prompt = text;
    const std::string image = optional_string(opt.questions, r, "image");
    if (!image.empty()) q.image = resolve_image(opt.questions, r, opt.image_folder, image);
    q.category = optional_string(opt.questions, r, "category");
    auto a = r.value.find("answer");
    if (a != r.value.end() && !a->is_null()) {
      VR_CHECK(a->is_string(), "{}", record_problem(opt.questions, r, "'answer' must be a string"));
      q.answer = a->get<std::string>();
      q.has_answer = true;
    }
    qs.push_back(std::move(q));
  }
  // 2. What an earlier run already answered. A last line without its newline was torn by a crash: read_jsonl
  // skips it, and it is cut from the file here so that the answers appended below follow a whole line.
  std::map<std::string, std::string> done;  // id -> text
  if (fs::exists(opt.answers)) {
    const std::string text = vr::read_file(opt.answers);
    if (!text.empty() && text.back() != '\n') {
      const size_t keep = text.rfind('\n');
      vr::atomic_write_file(opt.answers, keep == std::string::npos ? std::string() : text.substr(0, keep + 1));
    }
  }
  if (fs::exists(opt.answers))
    for (const auto& a : vr::read_jsonl(opt.answers))
      if (a.is_object() && a.contains("question_id") && a.contains("text"))
        done[id_key(a["question_id"])] = a["text"].is_string() ? a["text"].get<std::string>() : "";
  VqaReport report;
  report.questions = static_cast<int64_t>(qs.size());
  std::vector<const Question*> todo;
  for (const auto& q : qs) {
    if (done.count(id_key(q.id))) ++report.skipped;
    else todo.push_back(&q);
  }
  // 3. Answer in batches, appending each answer line as soon as its batch is done.
  const std::string model_id = opt.model_id.empty() ? model_name_from_path(em.dir()) : opt.model_id;
  if (!todo.empty()) {
    vr::JsonlWriter out(opt.answers);
    for (size_t start = 0; start < todo.size(); start += static_cast<size_t>(opt.batch_size)) {
      const size_t end = std::min(todo.size(), start + static_cast<size_t>(opt.batch_size));
      std::vector<Prompt> prompts;
      for (size_t i = start; i < end; ++i) {
        Prompt p;
        if (todo[i]->image.empty()) {
          p.human = todo[i]->prompt;
        } else {
          p.human = std::string(vr::data::kImageToken) + "\n" + todo[i]->prompt;
          p.pixels.push_back(em.load_image(todo[i]->image));
        }
        prompts.push_back(std::move(p));
      }
      const std::vector<std::string> texts = em.generate(prompts, opt.max_new_tokens);
      for (size_t i = start; i < end; ++i) {
        const std::string& text = texts[i - start];
        nlohmann::ordered_json line;  // LLaVA's model_vqa key order (nlohmann::json would sort the keys)
        line["question_id"] = todo[i]->id;
        line["prompt"] = todo[i]->prompt;
        line["text"] = text;
        line["answer_id"] = short_uuid();
        line["model_id"] = model_id;
        line["metadata"] = nlohmann::ordered_json::object();
        out.write_ordered(line);
        done[id_key(todo[i]->id)] = text;
        ++report.answered;
      }
      if (opt.progress) opt.progress(report.answered, static_cast<int64_t>(todo.size()));
    }
  }
  // 4. Accuracy over every answered question that carries a reference answer (this run and earlier ones).
  for (const auto& q : qs) {
    if (!q.has_answer) continue;
    auto it = done.find(id_key(q.id));
    if (it == done.end()) continue;
    const bool ok = normalize_answer(it->second) == normalize_answer(q.answer);
    report.scored.total += 1;
    report.scored.correct += ok;
    if (!q.category.empty()) {
      report.by_category[q.category].total += 1;
      report.by_category[q.category].correct += ok;
    }
  }
  return report;
}

}  // namespace vr::eval
