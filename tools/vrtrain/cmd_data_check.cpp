// vrtrain data-check: walk a training dataset and report every record the trainer would choke on.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vr/data/dataset.h"
#include "vr/data/dataset_check.h"
#include "vr/data/template.h"
#include "vr/text/tokenizer.h"
#include "vr/train/run_config.h"
#include "vr/train/run_options.h"
#include "vrtrain/arguments.h"
#include "vrtrain/command.h"

namespace cmd_data_check {  // not anonymous: unity builds put several commands in one translation unit

const char* kDescription = R"(vrtrain data-check: walk a training dataset and report every record the trainer would choke on.

Reads every record of a LLaVA-style dataset (a JSON list or JSONL file of
  {"id", "image" | "images", "conversations": [{"from": "human"|"gpt", "value"}]})
and checks what training needs: the record parses, roles are known and alternate, the conversation is not
empty, the number of "<image>" placeholders equals the number of images, and every image file decodes.
With --tokenizer it also applies the conversation template and the label-masking rules and counts samples
that the reference 'tokenization mismatch' fallback would mask entirely (reported, not counted as bad).)";

const char* kFooter = R"(Output: one line per bad record, '<file>: record <index> (id '<id>'): <problem>', then a totals line.
Exit status: 0 when every record is good, 1 when any record is bad, 2 for usage errors.

Example:
  vrtrain data-check --data llava_v1_5_mix665k.json --image-folder data/ \
      --template vicuna_v1 --tokenizer models/vicuna-7b-v1.5
)";

struct Options {
  vr::data::DatasetOptions data;
  std::string tokenizer;
  int64_t model_max_length = 2048;
  bool decode = true;
};

int run_data_check(const std::vector<std::string>& args) {
  Options o;
  std::string data_path, image_folder, template_name;
  bool no_decode = false;
  vr::cli::ConfigFlags config;
  CLI::App app = vr::cli::make_app("data-check", kDescription, kFooter);
  vr::cli::set_usage(app,
                     "vrtrain data-check --data PATH [--image-folder DIR] [--template NAME --tokenizer PATH] [options]\n"
                     "vrtrain data-check --config FILE [--set key=value ...] [options]");
  app.add_option("--data", data_path, "dataset file (.json list or .jsonl), or synthetic-shapes")->type_name("PATH");
  app.add_option("--image-folder", image_folder, "folder the records' image paths are relative to")->type_name("DIR");
  app.add_option("--template", template_name,
                 "plain | vicuna_v1 | llava_v1 | llama3 (default vicuna_v1; used with --tokenizer)")
      ->type_name("NAME");
  app.add_option("--tokenizer", o.tokenizer, "tokenizer.json or a model directory holding it")->type_name("PATH");
  vr::cli::add_int_option(app, "--model-max-length", o.model_max_length, "as data.model_max_length (default 2048)");
  app.add_flag("--no-decode", no_decode, "only check that image files exist (much faster than decoding them)");
  vr::cli::add_config_flags(app, config);
  app.get_option("--config")
      ->description("take data.* and model.path (as the tokenizer, when it exists) from a training config\n"
                    "(repeatable: later files override earlier ones); flags given win");
  if (auto code = vr::cli::parse(app, args)) return *code;
  o.decode = !no_decode;
  if (!config.files.empty() || !config.sets.empty()) {
    // The data keys of a training config (vr::train::RunConfig), read as training reads them (not validated:
    // the model keys may still be placeholders); flags given explicitly win.
    vr::train::RunConfig cfg;
    for (const auto& f : config.files) vr::train::load_run_config_file(cfg, f);
    vr::train::apply_run_overrides(cfg, config.sets);
    o.data = vr::train::dataset_options(cfg);
    if (app.count("--model-max-length") == 0) o.model_max_length = cfg.data.model_max_length;
    // model.path may name a model that the trainer creates on first use: only an existing one is used.
    if (o.tokenizer.empty() && !cfg.model.path.empty() && std::filesystem::exists(cfg.model.path))
      o.tokenizer = cfg.model.path;
  }
  o.data.skip_bad_records = false;  // every bad record is reported
  if (app.count("--data") > 0) o.data.path = data_path;
  if (app.count("--image-folder") > 0) o.data.image_folder = image_folder;
  if (app.count("--template") > 0) o.data.template_name = template_name;
  if (o.data.path.empty()) return vr::cli::usage_error(app, "no dataset: pass --data PATH or --config FILE");
  const vr::data::ConversationTemplate& tpl = vr::data::conversation_template(o.data.template_name);
  std::optional<vr::data::TextEncoder> enc;
  if (!o.tokenizer.empty()) enc = vr::data::TextEncoder::from_tokenizer(vr::text::Tokenizer::from_path(o.tokenizer));
  auto ds = vr::data::open_dataset(o.data);
  const vr::data::DatasetCheck c = vr::data::check_dataset(
      *ds, tpl, enc ? &*enc : nullptr, {o.decode, o.model_max_length},
      [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  std::printf("%s: %lld records checked: %lld bad, %lld with images (%lld images), %lld text-only", ds->source().c_str(),
              static_cast<long long>(c.records), static_cast<long long>(c.bad),
              static_cast<long long>(c.with_images), static_cast<long long>(c.images),
              static_cast<long long>(c.text_only));
  if (enc) std::printf(", %lld tokenization mismatches", static_cast<long long>(c.mismatched));
  std::printf("\n");
  return c.bad > 0 ? 1 : 0;
}

vr::cli::Registration registration_data_check{"data-check", "Check a training dataset record by record (bad records, images, masking)",
                          &run_data_check};

}  // namespace cmd_data_check
