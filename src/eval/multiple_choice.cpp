#include "vr/eval/multiple_choice.h"

#include <cctype>
#include <cmath>
#include <memory>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/core/jsonl.h"
#include "vr/data/conversation.h"
#include "vr/eval/eval_model.h"
#include "vr/eval/eval_records.h"

namespace vr::eval {

namespace {

std::string letter(int i) { return std::string(1, static_cast<char>('A' + i)); }

// Options from "options" (list or {"A": ...}), "choices" (list) or MMBench's top-level letter keys.
std::vector<std::string> read_options(const std::string& path, const Record& r) {
  auto fail = [&](const std::string& why) { throw vr::Error(record_problem(path, r, why)); };
  std::vector<std::string> out;
  const nlohmann::json& v = r.value;
  const nlohmann::json* list = nullptr;
  if (v.contains("options")) list = &v["options"];
  else if (v.contains("choices")) list = &v["choices"];
  if (list && list->is_array()) {
    for (const auto& o : *list) {
      if (!o.is_string()) fail("every option must be a string");
      out.push_back(o.get<std::string>());
    }
  } else {
    const nlohmann::json& keyed = list ? *list : v;
    if (list && !list->is_object()) fail("'options' must be a list or an object keyed by letters A-D");
    std::map<char, std::string> by_letter;
    for (auto it = keyed.begin(); it != keyed.end(); ++it) {
      const std::string& k = it.key();
      const bool letter_key = k.size() == 1 && std::isupper(static_cast<unsigned char>(k[0]));
      if (!letter_key) {
        if (list) fail(fmt::format("option key '{}' is not a letter A-D", k));
        continue;  // top-level: other fields of the record
      }
      if (it->is_null()) continue;  // MMBench leaves C/D empty (NaN) for 2- and 3-option questions
      if (k[0] > 'D') fail(fmt::format("option '{}': options must be lettered A-D", k));
      if (!it->is_string()) fail(fmt::format("option '{}' must be a string", k));
      by_letter[k[0]] = it->get<std::string>();
    }
    for (const auto& [c, text] : by_letter) {
      if (c != 'A' + static_cast<int>(out.size()))
        fail(fmt::format("options must be A, B, ... without gaps; found '{}' after {} option(s)", c, out.size()));
      out.push_back(text);
    }
  }
  if (out.size() > 4) fail(fmt::format("{} options: options must be lettered A-D (at most 4)", out.size()));
  if (out.size() < 2) fail(fmt::format("{} option(s): a multiple-choice question needs 2 to 4 options A-D", out.size()));
  return out;
}

int read_answer(const std::string& path, const Record& r, int n) {
  auto fail = [&](const std::string& why) { throw vr::Error(record_problem(path, r, why)); };
  auto it = r.value.find("answer");
  if (it == r.value.end() || it->is_null()) fail("no 'answer' field");
  int a = -1;
  if (it->is_number_integer()) a = it->get<int>();
  else if (it->is_string() && it->get<std::string>().size() == 1) a = it->get<std::string>()[0] - 'A';
  else fail(fmt::format("'answer' must be an option letter or a 0-based index, got {}", it->dump()));
  if (a < 0 || a >= n) fail(fmt::format("answer {} is not one of the {} options (A-{})", it->dump(), n, letter(n - 1)));
  return a;
}

struct Asked {
  const McQuestion* q;
  int rotation;
  std::vector<std::string> options;  // rotated
  int answer;                        // index into the rotated options
};

std::string stem(const McQuestion& q) { return q.hint.empty() ? q.question : q.hint + "\n" + q.question; }

}  // namespace

int parse_option_letter(const std::string& answer, int n) {
  std::string s = vr::data::strip_whitespace(answer);
  if (!s.empty() && s[0] == '(') s.erase(0, 1);
  if (!s.empty() && s[0] >= 'A' && s[0] < 'A' + n &&
      (s.size() == 1 || !std::islower(static_cast<unsigned char>(s[1]))))
    return s[0] - 'A';
  static const std::regex answer_is(R"([Aa]nswer is:?\s*\(?([A-Z])\b)");
  std::smatch m;
  if (std::regex_search(s, m, answer_is)) {
    const int c = m[1].str()[0] - 'A';
    if (c < n) return c;
  }
  return -1;
}

std::vector<McQuestion> read_mc_questions(const std::string& path, const std::string& image_folder, bool text_only) {
  std::vector<McQuestion> out;
  std::set<std::string> seen;
  for (const Record& r : read_records(path)) {
    McQuestion q;
    const bool has_id = r.value.contains("question_id") || r.value.contains("id") || r.value.contains("index");
    if (text_only && !has_id) q.id = "line " + std::to_string(r.line);
    else q.id = record_id(path, r, {"question_id", "id", "index"});
    VR_CHECK(seen.insert(id_key(q.id)).second, "{}", record_problem(path, r, "duplicate question id"));
    q.question = string_field(path, r, "question");
    q.hint = optional_string(path, r, "hint");
    q.options = read_options(path, r);
    q.answer = read_answer(path, r, static_cast<int>(q.options.size()));
    q.category = optional_string(path, r, r.value.contains("category") ? "category" : "subject");
    const std::string image = optional_string(path, r, "image");
    if (!image.empty()) {
      VR_CHECK(!text_only, "{}", record_problem(path, r, "text-mc records carry no image (use --task mc)"));
      q.image = resolve_image(path, r, image_folder, image);
    }
    out.push_back(std::move(q));
  }
  return out;
}

nlohmann::json McReport::metrics() const {
  nlohmann::json j = {{"accuracy", overall.accuracy()}, {"chance", chance}, {"questions", overall.total},
                      {"unparsed", unparsed}};
  if (rotations.total != overall.total) {
    j["rotation_accuracy"] = rotations.accuracy();
    j["prompts"] = rotations.total;
  }
  for (const auto& [c, s] : by_category)
    j["by_category"][c] = {{"accuracy", s.accuracy()}, {"correct", s.correct}, {"total", s.total}};
  return j;
}

std::string McReport::table() const {
  std::string s = fmt::format("{:<24} {:>9} {:>9}\n", "category", "accuracy", "questions");
  for (const auto& [c, sc] : by_category) s += fmt::format("{:<24} {:>8.1f}% {:>9}\n", c, 100 * sc.accuracy(), sc.total);
  s += fmt::format("{:<24} {:>8.1f}% {:>9}   (chance {:.1f}%)\n", "all", 100 * overall.accuracy(), overall.total,
                   100 * chance);
  if (rotations.total != overall.total)
    s += fmt::format("{:<24} {:>8.1f}% {:>9}\n", "each rotation", 100 * rotations.accuracy(), rotations.total);
  return s;
}

McReport run_multiple_choice(EvalModel& em, const McOptions& opt) {
  VR_CHECK(opt.method == "letter" || opt.method == "likelihood",
           "eval: --method must be letter or likelihood, got '{}'", opt.method);
  const std::vector<McQuestion> qs = read_mc_questions(opt.questions, opt.image_folder, opt.text_only);
  std::vector<Asked> asked;
  McReport report;
  double chance_sum = 0;
  for (const auto& q : qs) {
    const int n = static_cast<int>(q.options.size());
    const int rounds = opt.circular ? n : 1;
    chance_sum += std::pow(1.0 / n, rounds);
    for (int k = 0; k < rounds; ++k) {
      Asked a{&q, k, {}, (q.answer - k + n) % n};
      for (int i = 0; i < n; ++i) a.options.push_back(q.options[(i + k) % n]);  // rotate left by k
      asked.push_back(std::move(a));
    }
  }
  report.chance = chance_sum / static_cast<double>(qs.size());
  std::unique_ptr<vr::JsonlWriter> results;
  if (!opt.results.empty()) results = std::make_unique<vr::JsonlWriter>(opt.results, /*truncate=*/true);
  std::map<const McQuestion*, bool> all_right;
  auto prefix = [&](const McQuestion& q) {
    return q.image.empty() ? std::string() : std::string(vr::data::kImageToken) + "\n";
  };
  auto pixels = [&](const McQuestion& q) {
    return q.image.empty() ? std::vector<at::Tensor>{} : std::vector<at::Tensor>{em.load_image(q.image)};
  };
  auto record = [&](const Asked& a, int pred, const nlohmann::json& detail) {
    const bool ok = pred == a.answer;
    report.rotations.total += 1;
    report.rotations.correct += ok;
    auto it = all_right.find(a.q);
    all_right[a.q] = (it == all_right.end() ? true : it->second) && ok;
    if (results) {
      nlohmann::json j = {{"question_id", a.q->id},
                          {"rotation", a.rotation},
                          {"prediction", pred >= 0 ? letter(pred) : ""},
                          {"answer", letter(a.answer)},
                          {"correct", ok}};
      j.update(detail);
      results->write(j);
    }
  };
  const int64_t total = static_cast<int64_t>(asked.size());
  int64_t done = 0;
  if (opt.method == "likelihood") {
    for (const Asked& a : asked) {
      Prompt p{prefix(*a.q) + stem(*a.q), pixels(*a.q)};
      const std::vector<double> lp = em.score_answers(p, a.options);
      int best = 0;
      for (int c = 1; c < static_cast<int>(lp.size()); ++c)
        if (lp[c] > lp[best]) best = c;
      record(a, best, {{"logprobs", lp}});
      if (opt.progress) opt.progress(++done, total);
    }
  } else {
    VR_CHECK(opt.batch_size > 0, "eval: --batch-size must be > 0");
    for (size_t start = 0; start < asked.size(); start += static_cast<size_t>(opt.batch_size)) {
      const size_t end = std::min(asked.size(), start + static_cast<size_t>(opt.batch_size));
      std::vector<Prompt> prompts;
      for (size_t i = start; i < end; ++i) {
        const Asked& a = asked[i];
        std::string text = prefix(*a.q) + stem(*a.q);
        for (size_t o = 0; o < a.options.size(); ++o) text += "\n" + letter(static_cast<int>(o)) + ". " + a.options[o];
        text += "\n" + std::string(kLetterPrompt);
        prompts.push_back({text, pixels(*a.q)});
      }
      const std::vector<std::string> answers = em.generate(prompts, opt.max_new_tokens);
      for (size_t i = start; i < end; ++i) {
        const int pred = parse_option_letter(answers[i - start], static_cast<int>(asked[i].options.size()));
        report.unparsed += pred < 0;
        record(asked[i], pred, {{"text", answers[i - start]}});
        ++done;
      }
      if (opt.progress) opt.progress(done, total);
    }
  }
  for (const auto& q : qs) {
    const bool ok = all_right.at(&q);
    report.overall.total += 1;
    report.overall.correct += ok;
    if (!q.category.empty()) {
      report.by_category[q.category].total += 1;
      report.by_category[q.category].correct += ok;
    }
  }
  return report;
}

}  // namespace vr::eval
