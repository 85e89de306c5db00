// `vrtrain eval --task loss|vqa|mc|text-mc|shapes`: evaluation in the formats the field's scorers read, each task
// writing a JSON summary (vr/eval/eval_summary.h) that `vrtrain compare` tabulates.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/cpu_threads.h"
#include "vr/core/error.h"
#include "vr/core/progress.h"
#include "vr/data/synthetic_shapes.h"
#include "vr/eval/eval_model.h"
#include "vr/eval/eval_summary.h"
#include "vr/eval/loss_eval.h"
#include "vr/eval/multiple_choice.h"
#include "vr/eval/shapes_vqa.h"
#include "vr/eval/vqa_eval.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace fs = std::filesystem;

namespace cmd_eval {  // not anonymous: unity builds put several commands in one translation unit

const char* kFooter = R"(Tasks and their files (small examples: tests/data_files/eval/, docs/eval.md):
  shapes   closed-set questions about held-out synthetic-shapes images (colour, count, shape, position):
           every candidate answer scored, accuracy next to chance. No file needed (the CI smoke evaluation).
  loss     --data F.json [--data G.jsonl] [--image-folder D]: loss and perplexity on LLaVA-format
           conversations with the training template and label masking, per file and overall.
           --data synthetic-shapes: held-out generated samples (--samples, --seed, --image-size), captions
           with --template plain (the study's text-retention loss), questions otherwise.
  vqa      --questions Q.jsonl --image-folder D --answers A.jsonl: LLaVA's model_vqa. Questions
           {question_id, image, text[, category][, answer]}; answers {question_id, prompt, text, answer_id,
           model_id, metadata} as LLaVA/lmms-eval scorers read them. A rerun skips answered ids (resumable).
  mc       --questions Q.jsonl [--image-folder D] [--method letter|likelihood] [--circular]: multiple
           choice A-D (ScienceQA / MMBench / SEED style), accuracy overall and per category.
  text-mc  --questions MMLU.jsonl: text-only multiple choice ({question, choices, answer, subject}).

Every task writes <task>[-<data>].summary.json (model, task, data sha256, n, metrics, seconds) into --output
DIR (default: <run>/eval/ for a model at <run>/final, else ./eval_<model>/); vqa writes it next to --answers.

Examples:
  vrtrain eval --model runs/tiny_synthetic/final                       # shapes
  vrtrain eval --task vqa --model runs/a/final --questions q.jsonl --image-folder imgs --answers runs/a/eval/q.jsonl
  vrtrain eval --task mc --model runs/a/final --questions mmbench.jsonl --image-folder imgs --circular
  vrtrain eval --task loss --model runs/a/final --data val.json --image-folder imgs
)";

struct Args {
  std::string task = "shapes", model, output, template_name = "vicuna_v1", aspect = "pad";
  std::vector<std::string> data;
  std::string image_folder, questions, answers, suffix, method = "letter", model_id;
  bool circular = false, short_suffix = false;
  int64_t batch_size = 4, max_new_tokens = -1, threads = 0, samples = 64, seed = 1000003, image_size = 56;
  int64_t model_max_length = 2048;
};

// Prints "eval 12/40 | 3.1 q/s | ETA 9s" to stderr at most every 2 seconds and at the end.
std::function<void(int64_t, int64_t)> progress_printer(const std::string& unit) {
  auto meter = std::make_shared<vr::ProgressMeter>(0, unit);
  auto last = std::make_shared<double>(-1e9);
  return [meter, last, unit](int64_t done, int64_t total) {
    if (meter->total() != total) *meter = vr::ProgressMeter(total, unit);
    const double now = vr::ProgressMeter::now();
    meter->update(done, now);
    if (done == total || now - *last >= 2.0) {
      *last = now;
      std::fprintf(stderr, "%s\n", meter->line().c_str());
    }
  };
}

std::string default_output_dir(const Args& a) {
  fs::path m = fs::path(a.model).lexically_normal();
  if (m.filename().empty()) m = m.parent_path();
  if (m.filename() == "final" && m.has_parent_path()) return (m.parent_path() / "eval").string();
  return "eval_" + vr::eval::model_name_from_path(a.model);
}

// Summary path: --output ending in .json is the file itself; otherwise a directory.
std::string summary_file(const Args& a, const std::string& data) {
  std::string stem = a.task;
  if (!data.empty()) stem += "-" + fs::path(data).stem().string();
  if (a.output.size() > 5 && a.output.compare(a.output.size() - 5, 5, ".json") == 0) return a.output;
  const std::string dir = a.output.empty() ? default_output_dir(a) : a.output;
  return (fs::path(dir) / (stem + ".summary.json")).string();
}

void add_flags(CLI::App& app, Args& a) {
  app.add_option("--task", a.task, "shapes (default) | loss | vqa | mc | text-mc")
      ->check(CLI::IsMember({"shapes", "loss", "vqa", "mc", "text-mc"}));
  app.add_option("--model", a.model, "checkpoint directory with tokenizer and preprocessor (e.g. runs/x/final)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--output", a.output, "directory for the summary and results (or the summary's .json path)");
  app.add_option("--template", a.template_name, "conversation template of training (vicuna_v1 | llama3 | llava_v1)");
  app.add_option("--aspect", a.aspect, "image_aspect_ratio of training: pad | square");
  app.add_option("--data", a.data, "loss: LLaVA-format JSON/JSONL conversations (repeatable), or synthetic-shapes")
      ->check(CLI::ExistingFile | CLI::IsMember({std::string(vr::data::kSyntheticShapesName)}));
  app.add_option("--image-folder", a.image_folder, "folder the records' image paths are relative to");
  app.add_option("--questions", a.questions, "vqa / mc / text-mc: the question file (JSONL or JSON list)")
      ->check(CLI::ExistingFile);
  app.add_option("--answers", a.answers, "vqa: answer JSONL to write (appended; a rerun resumes)");
  app.add_option("--suffix", a.suffix, "vqa: text appended to every question");
  app.add_flag("--short-answer", a.short_suffix, "vqa: append LLaVA's \"Answer the question using a single word or phrase.\"");
  app.add_option("--method", a.method, "mc / text-mc: letter (generate the option letter) | likelihood")
      ->check(CLI::IsMember({"letter", "likelihood"}));
  app.add_flag("--circular", a.circular, "mc / text-mc: MMBench circular evaluation (every rotation must be right)");
  app.add_option("--model-id", a.model_id, "vqa: model_id written in the answers (default: LLaVA's name from the path)");
  app.add_option("--batch-size", a.batch_size, "prompts per forward pass (default 4)");
  app.add_option("--max-new-tokens", a.max_new_tokens, "generation limit (default: vqa 128, mc 8)");
  app.add_option("--model-max-length", a.model_max_length, "truncation of the tokenised conversations (default 2048)");
  app.add_option("--samples", a.samples, "shapes, loss on synthetic-shapes: held-out images (default 64)");
  app.add_option("--seed", a.seed, "shapes, loss on synthetic-shapes: seed of the images (default 1000003)");
  app.add_option("--image-size", a.image_size, "shapes, loss on synthetic-shapes: drawn image size in pixels (default 56)");
  app.add_option("--threads", a.threads, "CPU threads (default: LibTorch's)");
}

// One function per task: runs it, prints its table, fills the summary; returns the data file the summary is named
// after ("" for none).
std::string eval_shapes(const Args& a, vr::eval::EvalModel& em, vr::eval::EvalSummary& s) {
  vr::eval::ShapesVqaOptions opt;
  opt.template_name = a.template_name;
  opt.aspect = vr::image::parse_aspect_mode(a.aspect);
  opt.num_samples = a.samples;
  opt.seed = static_cast<uint64_t>(a.seed);
  opt.image_size = static_cast<int>(a.image_size);
  vr::eval::ShapesVqaReport r = vr::eval::evaluate_shapes_vqa(em.model(), em.tokenizer(), em.processor(), opt);
  std::printf("%s: %lld questions on %lld held-out synthetic-shapes images (seed %llu)\n%s", a.model.c_str(),
              static_cast<long long>(r.total), static_cast<long long>(opt.num_samples),
              static_cast<unsigned long long>(opt.seed), r.table().c_str());
  s.n = r.total;
  s.metrics = r.to_json();
  s.metrics["seed"] = a.seed;
  s.metrics["samples"] = a.samples;
  return "";
}

std::string eval_loss(const Args& a, vr::eval::EvalModel& em, vr::eval::EvalSummary& s) {
  VR_CHECK(!a.data.empty(), "eval --task loss needs --data FILE (LLaVA-format conversations)");
  vr::eval::LossEvalOptions opt;
  opt.data = a.data;
  opt.dataset.image_folder = a.image_folder;
  opt.dataset.synthetic_samples = a.samples;
  opt.dataset.synthetic_image_size = a.image_size;
  opt.dataset.seed = static_cast<uint64_t>(a.seed);
  opt.batch_size = a.batch_size;
  opt.progress = progress_printer("record");
  vr::eval::LossReport r = vr::eval::evaluate_loss(em, opt);
  std::printf("%s", r.table().c_str());
  bool synthetic = false;
  for (const auto& d : a.data) {
    if (d == vr::data::kSyntheticShapesName) synthetic = true;
    else s.data.push_back(vr::eval::describe_data_file(d));
  }
  s.n = r.overall.records;
  s.metrics = r.metrics();
  if (synthetic) s.metrics["synthetic"] = {{"samples", a.samples}, {"seed", a.seed}, {"image_size", a.image_size},
                                           {"template", a.template_name}};
  return a.data.size() == 1 ? a.data[0] : "";
}

std::string eval_vqa(const Args& a, vr::eval::EvalModel& em, vr::eval::EvalSummary& s) {
  VR_CHECK(!a.questions.empty() && !a.answers.empty(), "eval --task vqa needs --questions FILE and --answers FILE");
  vr::eval::VqaOptions opt;
  opt.questions = a.questions;
  opt.image_folder = a.image_folder;
  opt.answers = a.answers;
  opt.suffix = a.short_suffix ? vr::eval::kShortAnswerSuffix : a.suffix;
  opt.max_new_tokens = a.max_new_tokens >= 0 ? a.max_new_tokens : 128;
  opt.batch_size = a.batch_size;
  opt.model_id = a.model_id;
  opt.progress = progress_printer("question");
  vr::eval::VqaReport r = vr::eval::run_vqa(em, opt);
  std::printf("%s: %lld questions, %lld answered now, %lld already answered -> %s\n", a.questions.c_str(),
              static_cast<long long>(r.questions), static_cast<long long>(r.answered),
              static_cast<long long>(r.skipped), a.answers.c_str());
  if (r.scored.total > 0) {
    for (const auto& [c, sc] : r.by_category)
      std::printf("  %-24s %6.1f%% of %lld\n", c.c_str(), 100 * sc.accuracy(), static_cast<long long>(sc.total));
    std::printf("  %-24s %6.1f%% of %lld (exact match)\n", "all", 100 * r.scored.accuracy(),
                static_cast<long long>(r.scored.total));
  }
  s.data.push_back(vr::eval::describe_data_file(a.questions));
  s.n = r.questions;
  s.metrics = r.metrics();
  s.outputs.push_back(a.answers);
  return a.questions;
}

std::string eval_mc(const Args& a, vr::eval::EvalModel& em, vr::eval::EvalSummary& s) {
  VR_CHECK(!a.questions.empty(), "eval --task {} needs --questions FILE", a.task);
  vr::eval::McOptions opt;
  opt.questions = a.questions;
  opt.image_folder = a.image_folder;
  opt.text_only = a.task == "text-mc";
  opt.method = a.method;
  opt.circular = a.circular;
  opt.batch_size = a.batch_size;
  if (a.max_new_tokens >= 0) opt.max_new_tokens = a.max_new_tokens;
  opt.progress = progress_printer("prompt");
  const std::string sum = summary_file(a, a.questions);
  const std::string tail = ".summary.json";
  const bool standard = sum.size() > tail.size() && sum.compare(sum.size() - tail.size(), tail.size(), tail) == 0;
  opt.results = (standard ? sum.substr(0, sum.size() - tail.size()) : sum) + ".results.jsonl";
  fs::path parent = fs::path(opt.results).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  vr::eval::McReport r = vr::eval::run_multiple_choice(em, opt);
  std::printf("%s (%s%s)\n%s", a.questions.c_str(), a.method.c_str(), a.circular ? ", circular" : "",
              r.table().c_str());
  s.data.push_back(vr::eval::describe_data_file(a.questions));
  s.n = r.overall.total;
  s.metrics = r.metrics();
  s.metrics["method"] = a.method;
  s.metrics["circular"] = a.circular;
  s.outputs.push_back(opt.results);
  return a.questions;
}

int run_eval(const std::vector<std::string>& argv) {
  Args a;
  CLI::App app = vr::cli::make_app("eval", "Evaluate a checkpoint: shapes | loss | vqa | mc | text-mc", kFooter);
  add_flags(app, a);
  if (auto code = vr::cli::parse(app, argv)) return *code;
  vr::apply_thread_policy(a.threads);

  vr::eval::EvalModelOptions mo;
  mo.template_name = a.template_name;
  mo.aspect = vr::image::parse_aspect_mode(a.aspect);
  mo.model_max_length = a.model_max_length;
  const auto t0 = std::chrono::steady_clock::now();
  vr::eval::EvalModel em(a.model, mo);
  vr::eval::EvalSummary s;
  s.model = a.model;
  s.model_id = vr::eval::model_name_from_path(a.model);
  s.task = a.task;
  const std::string data_for_name = a.task == "shapes" ? eval_shapes(a, em, s)
                                    : a.task == "loss" ? eval_loss(a, em, s)
                                    : a.task == "vqa"  ? eval_vqa(a, em, s)
                                                       : eval_mc(a, em, s);  // mc, text-mc
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string path = a.task == "vqa" && a.output.empty() ? vr::eval::summary_path_for(a.answers, "vqa")
                                                               : summary_file(a, data_for_name);
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  s.write(path);
  std::printf("summary: %s\n", path.c_str());
  return 0;
}

vr::cli::Registration registration_eval{"eval", "Evaluate a checkpoint: shapes | loss | vqa | mc | text-mc, with a JSON summary",
                          &run_eval};

}  // namespace cmd_eval
