// `vrtrain tokenize`: JSON lines {"text": ...} on stdin → {"ids": [...]} lines on stdout, one per input line.
// A public contract for scripts: keep the flags and the line format exactly as documented in its --help.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/text/tokenizer.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_tokenize {  // not anonymous: unity builds put several commands in one translation unit

constexpr const char* kDescription = "vrtrain tokenize: turn text into token ids with a Hugging Face tokenizer.json.";

constexpr const char* kFooter = R"(Input: one JSON object per line with a string field "text". Output: one line {"ids":[...]} per input
line, in order. Special tokens written in the text (e.g. <|eot_id|>, </s>) always become their ids.
Ids are exactly those of Hugging Face `tokenizers` for the same files.
A line that is not such an object stops the run with an error naming the line number (exit code 1).

Example:
  echo '{"text": "Hello world"}' | vrtrain tokenize --tokenizer models/Meta-Llama-3-8B-Instruct
  {"ids":[9906,1917]}
)";

int run_tokenize(const std::vector<std::string>& args) {
  std::string path;
  bool add_special = false;
  CLI::App app = vr::cli::make_app("tokenize", kDescription, kFooter);
  vr::cli::set_usage(app, "vrtrain tokenize --tokenizer PATH [--add-special-tokens] < in.jsonl > out.jsonl");
  app.add_option("--tokenizer", path,
                 "a tokenizer.json file, or a model directory holding tokenizer.json\n"
                 "(tokenizer_config.json next to it is read too: add_bos_token, legacy, ...)")
      ->type_name("PATH")
      ->required();
  app.add_flag("--add-special-tokens", add_special,
               "add what the tokenizer adds around a text (BOS for Llama-2 / Vicuna; nothing\n"
               "for the first Llama-3 release, whose post_processor adds nothing)");
  if (auto code = vr::cli::parse(app, args)) return *code;
  vr::text::Tokenizer tok = vr::text::Tokenizer::from_path(path);

  std::ios::sync_with_stdio(false);
  std::string line, out;
  for (size_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      VR_FAIL("stdin line {}: not valid JSON ({})", line_no, e.what());
    }
    VR_CHECK(record.is_object() && record.contains("text") && record.at("text").is_string(),
             "stdin line {}: expected an object with a string field \"text\", got {}", line_no,
             record.dump().substr(0, 200));
    std::vector<int64_t> ids = tok.encode(record.at("text").get_ref<const std::string&>(), add_special);
    out.assign("{\"ids\":[");
    for (size_t k = 0; k < ids.size(); ++k) fmt::format_to(std::back_inserter(out), k ? ",{}" : "{}", ids[k]);
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

vr::cli::Registration registration_tokenize{"tokenize", "Text (JSON lines on stdin) to token ids with a tokenizer.json", &run_tokenize};

}  // namespace cmd_tokenize
