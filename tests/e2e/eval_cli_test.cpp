// `vrtrain eval` end to end on the hand-made files of tests/data_files/eval/, with two tiny models whose outputs
// are known by construction:
//   uniform  lm_head = 0, so every next-token distribution is uniform over the V ids: the loss of any token is
//            ln V exactly (perplexity V), an answer of k supervised tokens scores -k ln V, and option likelihood
//            picks the option with the fewest tokens (ties: the first).
//   forced   the residual stream carries a constant +10 in channel c (embedding column c = 10, every o_proj and
//            down_proj row c = 0), the final norm keeps only channel c (weight e_c) and lm_head row X = e_c, all
//            other rows 0: logit X = 10 / rms > 0 = every other logit, at every position. Greedy decoding emits X
//            forever, whatever the image or the prompt.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/cli.h"
#include "support/fixtures.h"
#include "vr/core/file_io.h"
#include "vr/core/jsonl.h"
#include "vr/core/safetensors.h"
#include "vr/text/tokenizer.h"
#include "vr/model/tiny_model.h"

namespace e2e_eval_cli_test {

namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(VR_TEST_DATA_DIR) + "/eval";
const std::string kImages = kData + "/images";

const std::string& models_root() {
  static const std::string root = vr::test::temp_dir("eval_cli_models");
  return root;
}

std::string tiny_dir() {
  static const std::string dir = [] {
    const std::string d = models_root() + "/base";
    vr::model::TinyModelOptions o;
    o.seed = 5;
    o.num_layers = 2;
    vr::model::make_tiny_model(d, o);
    return d;
  }();
  return dir;
}

int64_t vocab_size(const std::string& dir) {
  return vr::read_json_file(dir + "/config.json")["text_config"]["vocab_size"].get<int64_t>();
}

// A copy of the tiny model with its weights edited by `edit`.
std::string edited_model(const std::string& name, const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
  const std::string dir = models_root() + "/" + name;
  if (fs::exists(dir)) return dir;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(tiny_dir()))
    if (e.path().filename() != "model.safetensors") fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
  auto tensors = vr::load_safetensors(tiny_dir() + "/model.safetensors");
  for (auto& kv : tensors) kv.second = kv.second.clone();
  edit(tensors);
  vr::save_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

std::string uniform_model() {
  return edited_model("uniform", [](std::map<std::string, at::Tensor>& t) {
    ASSERT_TRUE(t.count("language_model.lm_head.weight"));
    t["language_model.lm_head.weight"].zero_();
  });
}

// The single id `text` encodes to (without special tokens).
int64_t single_token(const std::string& text) {
  auto tok = vr::text::Tokenizer::from_path(tiny_dir());
  const auto ids = tok.encode(text, /*add_special_tokens=*/false);
  EXPECT_EQ(ids.size(), 1u) << "'" << text << "' is not one token of the tiny tokenizer";
  return ids.empty() ? 0 : ids[0];
}

std::string forced_model(const std::string& name, int64_t token) {
  return edited_model(name, [token](std::map<std::string, at::Tensor>& t) {
    const int64_t c = 0;  // the constant channel
    t["language_model.model.embed_tokens.weight"].select(1, c).fill_(10.0);
    for (auto& [key, value] : t)
      if (key.find("o_proj.weight") != std::string::npos || key.find("down_proj.weight") != std::string::npos)
        value.select(0, c).zero_();
    auto& norm = t["language_model.model.norm.weight"];
    norm.zero_();
    norm[c].fill_(1.0);
    auto& head = t["language_model.lm_head.weight"];
    head.zero_();
    head[token][c].fill_(1.0);
  });
}

vr::test::CliResult eval(const std::string& args) {
  return vr::test::run_vrtrain("eval --threads 1 " + args, vr::test::temp_dir("eval_cli_log"));
}

nlohmann::json summary(const std::string& path) { return vr::read_json_file(path); }

TEST(EvalCli, LossOfAUniformModelIsLnVPerTokenInEveryFile) {
  const std::string model = uniform_model(), out = vr::test::temp_dir("eval_loss");
  auto r = eval(fmt::format("--task loss --model {} --data {}/conversations.json --data {}/conversations_more.jsonl "
                            "--image-folder {} --output {}",
                            model, kData, kData, kImages, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = summary(out + "/loss.summary.json");
  const double lnv = std::log(static_cast<double>(vocab_size(model)));
  EXPECT_EQ(j["task"], "loss");
  EXPECT_EQ(j["n"], 5);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["sha256"].get<std::string>().size(), 64u);
  // float32 log_softmax of zeros: -ln V within ~1e-6 relative.
  EXPECT_NEAR(j["metrics"]["loss"].get<double>(), lnv, 1e-4);
  EXPECT_NEAR(j["metrics"]["perplexity"].get<double>(), static_cast<double>(vocab_size(model)), 0.05);
  EXPECT_GT(j["metrics"]["tokens"].get<int64_t>(), 10);
  for (const auto& [path, d] : j["metrics"]["by_dataset"].items()) EXPECT_NEAR(d["loss"].get<double>(), lnv, 1e-4) << path;
  EXPECT_EQ(j["metrics"]["by_dataset"].size(), 2u);
}

// The study's text-retention loss: held-out synthetic-shapes captions (template plain), no file needed. The
// uniform model scores every supervised token ln V; the same seed draws the same samples.
TEST(EvalCli, LossOnGeneratedCaptionsNeedsNoFileAndQuestionTasksRefusePlain) {
  const std::string model = uniform_model(), out = vr::test::temp_dir("eval_loss_synthetic");
  auto r = eval(fmt::format("--task loss --model {} --data synthetic-shapes --template plain --samples 6 --seed 7 "
                            "--output {}", model, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = summary(out + "/loss-synthetic-shapes.summary.json");
  EXPECT_EQ(j["n"], 6);
  EXPECT_EQ(j["data"].size(), 0u);  // no file to hash: the generator's settings say what was scored
  EXPECT_EQ(j["metrics"]["synthetic"]["seed"], 7);
  EXPECT_EQ(j["metrics"]["synthetic"]["template"], "plain");
  EXPECT_NEAR(j["metrics"]["loss"].get<double>(), std::log(static_cast<double>(vocab_size(model))), 1e-4);
  // "two red circles.\n": at least 3 supervised tokens per caption, and no image token is supervised.
  EXPECT_GE(j["metrics"]["tokens"].get<int64_t>(), 18);
  EXPECT_LE(j["metrics"]["tokens"].get<int64_t>(), 6 * 12);
  r = eval(fmt::format("--model {} --template plain --samples 2 --output {}", model, out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("template 'plain' has no question/answer turns"), std::string::npos) << r.output;
}

TEST(EvalCli, VqaWritesLlavaAnswersResumesAndScoresAForcedAnswer) {
  const std::string model = forced_model("forced_red", single_token(" red"));
  const std::string out = vr::test::temp_dir("eval_vqa"), answers = out + "/answers.jsonl";
  const std::string args = fmt::format("--task vqa --model {} --questions {}/vqa_questions.jsonl --image-folder {} "
                                       "--answers {} --max-new-tokens 1 --batch-size 3",
                                       model, kData, kImages, answers);
  auto r = eval(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto lines = vr::read_jsonl(answers);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& a : lines) {
    // Exactly LLaVA's answer record.
    EXPECT_EQ(a.size(), 6u) << a.dump();
    for (const char* k : {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}) EXPECT_TRUE(a.contains(k)) << k;
    EXPECT_EQ(a["text"], "red");
    EXPECT_EQ(a["model_id"], "forced_red");
    EXPECT_EQ(a["answer_id"].get<std::string>().size(), 22u);
    EXPECT_TRUE(a["metadata"].is_object() && a["metadata"].empty());
  }
  // Keys in LLaVA's model_vqa order (some scripts read the lines as ordered dicts or diff them as text).
  {
    std::ifstream in(answers);
    for (std::string raw; std::getline(in, raw);) {
      size_t prev = 0;
      for (const char* k : {"\"question_id\":", "\"prompt\":", "\"text\":", "\"answer_id\":", "\"model_id\":",
                            "\"metadata\":"}) {
        const size_t at = raw.find(k);
        ASSERT_NE(at, std::string::npos) << k << " in " << raw;
        EXPECT_GE(at, prev) << k << " out of LLaVA's order in " << raw;
        prev = at;
      }
      EXPECT_EQ(raw.rfind("{\"question_id\":", 0), 0u) << raw;
    }
  }
  EXPECT_EQ(lines[0]["question_id"], 1);      // ids keep their JSON type
  EXPECT_EQ(lines[1]["question_id"], "q2");
  EXPECT_EQ(lines[0]["prompt"], "What colour is the shape?");
  auto j = summary(out + "/answers.summary.json");
  EXPECT_EQ(j["task"], "vqa");
  EXPECT_EQ(j["n"], 4);
  // "red" is right for questions 1 and q2 ("Red." normalises to "red"), wrong for 3 and 4.
  EXPECT_DOUBLE_EQ(j["metrics"]["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["metrics"]["by_category"]["colour"]["accuracy"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["metrics"]["by_category"]["shape"]["accuracy"].get<double>(), 0.0);

  // Resume: drop the last two answers (as if killed), rerun: only those two are answered again.
  {
    std::ofstream f(answers, std::ios::trunc);
    f << lines[0].dump() << "\n" << lines[1].dump() << "\n" << lines[2].dump().substr(0, 10);  // torn line
  }
  r = eval(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 answered now, 2 already answered"), std::string::npos) << r.output;
  lines = vr::read_jsonl(answers);
  ASSERT_EQ(lines.size(), 4u);
  std::set<std::string> ids;
  for (const auto& a : lines) ids.insert(a["question_id"].dump());
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(lines[0]["answer_id"], vr::read_jsonl(answers)[0]["answer_id"]);
  r = eval(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 answered now, 4 already answered"), std::string::npos) << r.output;
}

TEST(EvalCli, MultipleChoiceLettersPerCategoryAndCircular) {
  const std::string model = forced_model("forced_B", single_token("B"));
  const std::string out = vr::test::temp_dir("eval_mc");
  auto r = eval(fmt::format("--task mc --model {} --questions {}/mc_questions.jsonl --image-folder {} --output {} "
                            "--max-new-tokens 1",
                            model, kData, kImages, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = summary(out + "/mc-mc_questions.summary.json");
  // The model always answers B: right for 101 (B) and 103 (index 1), wrong for 102 (A) and 104 (C).
  EXPECT_DOUBLE_EQ(j["metrics"]["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["metrics"]["chance"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["metrics"]["by_category"]["colour"]["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["metrics"]["by_category"]["text"]["accuracy"].get<double>(), 1.0);
  EXPECT_EQ(j["metrics"]["unparsed"], 0);
  const auto results = vr::read_jsonl(out + "/mc-mc_questions.results.jsonl");
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0]["prediction"], "B");
  EXPECT_EQ(results[1]["answer"], "A");

  // Circular: each 4-option question is asked 4 times; its answer sits at B in exactly one rotation.
  const std::string out2 = vr::test::temp_dir("eval_mc_circular");
  r = eval(fmt::format("--task mc --model {} --questions {}/mc_questions.jsonl --image-folder {} --output {} "
                       "--max-new-tokens 1 --circular",
                       model, kData, kImages, out2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = summary(out2 + "/mc-mc_questions.summary.json");
  EXPECT_DOUBLE_EQ(j["metrics"]["accuracy"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["metrics"]["rotation_accuracy"].get<double>(), 0.25);
  EXPECT_EQ(j["metrics"]["prompts"], 16);
  EXPECT_NEAR(j["metrics"]["chance"].get<double>(), std::pow(0.25, 4), 1e-12);
}

TEST(EvalCli, OptionLikelihoodOfAUniformModelPicksTheShortestOption) {
  const std::string model = uniform_model(), out = vr::test::temp_dir("eval_mc_ll");
  auto r = eval(fmt::format("--task mc --method likelihood --model {} --questions {}/mc_likelihood.jsonl "
                            "--image-folder {} --output {}",
                            model, kData, kImages, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = summary(out + "/mc-mc_likelihood.summary.json");
  // L1 "red" and L2 "x" are the shortest options and the answers; L3's answer is the longer option.
  EXPECT_DOUBLE_EQ(j["metrics"]["accuracy"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["metrics"]["by_category"]["short"]["accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["metrics"]["by_category"]["long"]["accuracy"].get<double>(), 0.0);
  // Every option's score is -k ln V for a whole number k >= 2 of supervised tokens (answer + "</s>").
  const double lnv = std::log(static_cast<double>(vocab_size(model)));
  for (const auto& line : vr::read_jsonl(out + "/mc-mc_likelihood.results.jsonl"))
    for (const auto& lp : line["logprobs"]) {
      const double k = -lp.get<double>() / lnv;
      EXPECT_NEAR(k, std::round(k), 1e-3) << line.dump();
      EXPECT_GE(std::round(k), 2);
    }
}

TEST(EvalCli, TextMultipleChoiceByLikelihoodAndByLetter) {
  const std::string out = vr::test::temp_dir("eval_text_mc");
  auto r = eval(fmt::format("--task text-mc --method likelihood --model {} --questions {}/text_mc.jsonl --output {}",
                            uniform_model(), kData, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = summary(out + "/text-mc-text_mc.summary.json");
  EXPECT_EQ(j["task"], "text-mc");
  EXPECT_EQ(j["n"], 3);
  EXPECT_DOUBLE_EQ(j["metrics"]["accuracy"].get<double>(), 1.0);  // every answer is the shortest option
  EXPECT_EQ(j["metrics"]["by_category"].size(), 3u);
  r = eval(fmt::format("--task text-mc --model {} --questions {}/text_mc.jsonl --output {} --max-new-tokens 1",
                       forced_model("forced_B", single_token("B")), kData, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = summary(out + "/text-mc-text_mc.summary.json");
  EXPECT_DOUBLE_EQ(j["metrics"]["accuracy"].get<double>(), 1.0 / 3.0);  // only question 1's answer is B
}

TEST(EvalCli, ShapesSummary) {
  const std::string out = vr::test::temp_dir("eval_shapes");
  auto r = eval(fmt::format("--model {} --samples 2 --output {}", tiny_dir(), out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = summary(out + "/shapes.summary.json");
  EXPECT_EQ(j["task"], "shapes");
  EXPECT_GE(j["n"].get<int64_t>(), 6);
  EXPECT_TRUE(j["metrics"].contains("accuracy") && j["metrics"].contains("chance"));
  for (const char* k : {"model", "model_id", "data", "seconds", "created"}) EXPECT_TRUE(j.contains(k)) << k;
}

TEST(EvalCli, BadInputNamesTheRecordAndLosesNothing) {
  const std::string model = tiny_dir(), out = vr::test::temp_dir("eval_bad");
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {fmt::format("--task vqa --questions {}/bad_vqa_missing_image.jsonl --image-folder {} --answers {}/a.jsonl", kData,
                   kImages, out),
       "bad_vqa_missing_image.jsonl: line 2 (id '2'): image"},
      {fmt::format("--task vqa --questions {}/bad_vqa_no_id.jsonl --image-folder {} --answers {}/a.jsonl", kData, kImages,
                   out),
       "bad_vqa_no_id.jsonl: line 2: the question has no id"},
      {fmt::format("--task mc --questions {}/bad_mc_option_e.jsonl --output {}", kData, out),
       "bad_mc_option_e.jsonl: line 1 (id '7'): option 'E': options must be lettered A-D"},
      {fmt::format("--task mc --questions {}/bad_mc_five_options.jsonl --output {}", kData, out),
       "bad_mc_five_options.jsonl: line 1 (id '8'): 5 options"},
      {fmt::format("--task vqa --questions {}/empty.jsonl --answers {}/a.jsonl", kData, out),
       "empty.jsonl: the file holds no record"},
      {fmt::format("--task text-mc --questions {}/empty.jsonl --output {}", kData, out),
       "empty.jsonl: the file holds no record"},
      {fmt::format("--task loss --data {}/bad_loss_missing_image.json --image-folder {} --output {}", kData, kImages,
                   out),
       "broken"},
  };
  for (const auto& c : cases) {
    auto r = eval("--model " + model + " " + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in:\n" << r.output;
  }
  // Nothing was written for the rejected question files (checked before any answer).
  EXPECT_FALSE(fs::exists(out + "/a.jsonl"));
  // A bad flag is a usage error.
  EXPECT_EQ(eval("--model " + model + " --task nonsense").exit_code, 2);
}

}  // namespace

}  // namespace e2e_eval_cli_test
