// vrtrain data-check: walk a training dataset and report every record the trainer would choke on.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "vr/core/error.h"
#include "vr/data/dataset.h"
#include "vr/image/image.h"
#include "vr/data/label_masking.h"
#include "vr/data/template.h"
#include "vr/text/tokenizer.h"
#include "vrtrain/command.h"

namespace {

const char* kHelp =
    "Usage: vrtrain data-check --data PATH [--image-folder DIR] [--template NAME --tokenizer PATH] [options]\n"
    "       vrtrain data-check --config FILE [options]\n"
    "\n"
    "Reads every record of a LLaVA-style dataset (a JSON list or JSONL file of\n"
    "  {\"id\", \"image\" | \"images\", \"conversations\": [{\"from\": \"human\"|\"gpt\", \"value\"}]})\n"
    "and checks what training needs: the record parses, roles are known and alternate, the conversation is not\n"
    "empty, the number of \"<image>\" placeholders equals the number of images, and every image file decodes.\n"
    "With --tokenizer it also applies the conversation template and the label-masking rules and counts samples\n"
    "that the reference 'tokenization mismatch' fallback would mask entirely (reported, not counted as bad).\n"
    "\n"
    "Output: one line per bad record, '<file>: record <index> (id '<id>'): <problem>', then a totals line.\n"
    "Exit status: 0 when every record is good, 1 when any record is bad, 2 for usage errors.\n"
    "\n"
    "Options:\n"
    "  --data PATH            dataset file (.json list or .jsonl), or synthetic-shapes\n"
    "  --image-folder DIR     folder the records' image paths are relative to\n"
    "  --template NAME        plain | vicuna_v1 | llava_v1 | llama3 (default vicuna_v1; used with --tokenizer)\n"
    "  --tokenizer PATH       tokenizer.json or a model directory holding it\n"
    "  --model-max-length N   as data.model_max_length (default 2048)\n"
    "  --no-decode            only check that image files exist (much faster than decoding them)\n"
    "  --config FILE          take data.path, data.image_folder, data.template, data.model_max_length and\n"
    "                         model.path (as the tokenizer) from a training config; flags given win\n"
    "\n"
    "Example:\n"
    "  vrtrain data-check --data llava_v1_5_mix665k.json --image-folder data/ \\\n"
    "      --template vicuna_v1 --tokenizer models/vicuna-7b-v1.5\n";

struct Options {
  vr::data::DatasetOptions data;
  std::string tokenizer;
  int64_t model_max_length = 2048;
  bool decode = true;
};

Options parse(const std::vector<std::string>& args) {
  Options o;
  std::string config;
  bool have_template = false, have_max_length = false;
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& a = args[k];
    auto value = [&]() -> std::string {
      VR_CHECK(k + 1 < args.size(), "{} needs a value", a);
      return args[++k];
    };
    if (a == "--data") o.data.path = value();
    else if (a == "--image-folder") o.data.image_folder = value();
    else if (a == "--template") o.data.template_name = value(), have_template = true;
    else if (a == "--tokenizer") o.tokenizer = value();
    else if (a == "--model-max-length") o.model_max_length = std::stoll(value()), have_max_length = true;
    else if (a == "--no-decode") o.decode = false;
    else if (a == "--config") config = value();
    else VR_FAIL("unknown option '{}' (see `vrtrain data-check --help`)", a);
  }
  if (!config.empty()) {
    // The data keys of a training config (vr::train::RunConfig); flags given explicitly win.
    YAML::Node root;
    try {
      root = YAML::LoadFile(config);
    } catch (const std::exception& e) {
      VR_FAIL("{}: {}", config, e.what());
    }
    auto get = [&](const char* section, const char* key) -> YAML::Node {
      YAML::Node s = root[section];
      return s && s.IsMap() ? s[key] : YAML::Node();
    };
    try {
      if (auto n = get("data", "path"); n && o.data.path.empty()) o.data.path = n.as<std::string>();
      if (auto n = get("data", "image_folder"); n && o.data.image_folder.empty()) o.data.image_folder = n.as<std::string>();
      if (auto n = get("data", "template"); n && !have_template) o.data.template_name = n.as<std::string>();
      if (auto n = get("data", "model_max_length"); n && !have_max_length) o.model_max_length = n.as<int64_t>();
      // model.path may name a model that the trainer creates on first use: only an existing one is used.
      if (auto n = get("model", "path"); n && o.tokenizer.empty() && std::filesystem::exists(n.as<std::string>()))
        o.tokenizer = n.as<std::string>();
      YAML::Node syn = get("data", "synthetic");
      if (syn && syn.IsMap()) {
        if (syn["num_samples"]) o.data.synthetic_samples = syn["num_samples"].as<int64_t>();
        if (syn["image_size"]) o.data.synthetic_image_size = syn["image_size"].as<int64_t>();
        if (syn["seed"]) o.data.seed = syn["seed"].as<uint64_t>();
      }
    } catch (const YAML::Exception& e) {
      VR_FAIL("{}: {}", config, e.what());
    }
  }
  VR_CHECK(!o.data.path.empty(), "no dataset: pass --data PATH or --config FILE");
  return o;
}

int run_data_check(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
  Options o;
  try {
    o = parse(args);
  } catch (const vr::Error& e) {
    std::fprintf(stderr, "vrtrain data-check: %s\n", e.what());
    return 2;
  }
  const vr::data::ConversationTemplate& tpl = vr::data::conversation_template(o.data.template_name);
  std::optional<vr::data::TextEncoder> enc;
  if (!o.tokenizer.empty()) enc = vr::data::TextEncoder::from_tokenizer(vr::text::Tokenizer::from_path(o.tokenizer));
  auto ds = vr::data::open_dataset(o.data);

  int64_t bad = 0, mismatched = 0, images = 0, with_images = 0, text_only = 0;
  for (int64_t i = 0; i < ds->size(); ++i) {
    std::string id = "?";
    try {
      vr::data::Sample s = ds->get(i);
      id = s.id;
      for (const auto& path : s.image_paths) {
        if (o.decode) (void)vr::image::decode_image_file(path);
        else VR_CHECK(std::filesystem::is_regular_file(path), "image file '{}' not found", path);
      }
      if (enc) {
        auto t = vr::data::tokenize_conversation(s.conversations, s.num_images() > 0, tpl, *enc, o.model_max_length);
        if (t.mismatch) {
          ++mismatched;
          std::printf("%s\n", vr::data::record_error(ds->source(), i, id,
                                                     "warning: tokenization mismatch, the whole sample would be masked")
                                  .c_str());
        }
      }
      images += s.num_images();
      with_images += s.num_images() > 0;
      text_only += s.num_images() == 0;
    } catch (const std::exception& e) {
      ++bad;
      std::string msg = e.what();
      // Errors from get() already name file, record and id; the others get that prefix here.
      if (msg.rfind(ds->source() + ": record ", 0) != 0) msg = vr::data::record_error(ds->source(), i, id, msg);
      std::printf("%s\n", msg.c_str());
    }
  }
  std::printf("%s: %lld records checked: %lld bad, %lld with images (%lld images), %lld text-only", ds->source().c_str(),
              static_cast<long long>(ds->size()), static_cast<long long>(bad),
              static_cast<long long>(with_images), static_cast<long long>(images),
              static_cast<long long>(text_only));
  if (enc) std::printf(", %lld tokenization mismatches", static_cast<long long>(mismatched));
  std::printf("\n");
  return bad > 0 ? 1 : 0;
}

vr::cli::Registration reg{"data-check", "Check a training dataset record by record (bad records, images, masking)",
                          &run_data_check};

}  // namespace
