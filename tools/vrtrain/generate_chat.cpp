// People's mode of `vrtrain generate` (see generate_chat.h): prompt → template → ids with image slots → left-padded
// batch → generate_lvlm / generate_llama → answers decoded (and streamed for a single prompt).
#include "vrtrain/generate_chat.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/cpu_threads.h"
#include "vr/core/error.h"
#include "vr/core/file_io.h"
#include "vr/core/tensor_files.h"
#include "vr/data/conversation.h"
#include "vr/data/template.h"
#include "vr/data/text_encoder.h"
#include "vr/image/image.h"
#include "vr/image/image_processor.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm_generate.h"
#include "vr/text/tokenizer.h"

namespace vr::cli {

// ---- flags shared by both modes --------------------------------------------------------------------------------

void SharedGenerateFlags::add(CLI::App& app) {
  app.add_option("--dtype", dtype_name, "weights and activations: fp32 (default) or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--threads", threads, "CPU threads for LibTorch (1 = closest to references)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--do-sample", do_sample, "sample (temperature/top-k/top-p) instead of the greedy argmax");
  app.add_option("--temperature", temperature, "sampling temperature > 0 (implies sampling; 0 = greedy)");
  app.add_option("--top-p", top_p, "nucleus sampling mass in (0, 1] (implies sampling)");
  app.add_option("--top-k", top_k, "keep the k most likely ids, 0 = all (implies sampling; HF default 50)");
  app.add_option("--seed", seed, "seed of the sampling generator (default 0)");
}

void SharedGenerateFlags::apply_threads() const {
  vr::apply_thread_policy(threads);
}

at::ScalarType SharedGenerateFlags::dtype() const { return dtype_name == "bf16" ? at::kBFloat16 : at::kFloat; }

vr::model::GenerateOptions SharedGenerateFlags::options(const vr::model::GenerationSettings& s) const {
  vr::model::GenerateOptions o;
  o.eos_token_ids = s.eos_token_ids;
  o.do_sample = do_sample || (temperature && *temperature > 0) || top_p.has_value() || top_k.has_value();
  o.temperature = temperature && *temperature > 0 ? *temperature : s.temperature;
  o.top_p = top_p ? *top_p : s.top_p;
  o.top_k = top_k ? *top_k : s.top_k;
  o.seed = seed;
  return o;
}

void ChatOptions::add(CLI::App& app) {
  app.add_option("--prompt", prompt, "people's mode: the question (\"<image>\" marks where an image goes; "
                                     "without one the images are put first)");
  app.add_option("--image", images, "image file for the prompt (repeatable, in order)")->check(CLI::ExistingFile);
  app.add_option("--batch-file", batch_file, "JSON lines {\"prompt\": ..., \"images\": [...]}: batched, answers as "
                                             "JSON lines")
      ->check(CLI::ExistingFile);
  app.add_option("--template", template_name, "conversation template (vicuna_v1, llava_v1, llama3, plain); default "
                                              "llama3 for Llama-3 tokenizers, else vicuna_v1");
  app.add_option("--system", system, "replace the template's system prompt");
  app.add_option("--stop", stops, "stop when the answer contains this text (repeatable; the template's turn "
                                  "terminator always stops)");
  app.add_option("--tokenizer", tokenizer, "tokenizer.json or its directory (default: the model directory)");
  app.add_option("--processor", processor, "preprocessor_config.json or its directory (default: the model directory)");
  app.add_option("--aspect", aspect, "pad (LLaVA's expand-to-square, default) or square")
      ->check(CLI::IsMember({"pad", "square"}));
  app.add_flag("--no-stream", no_stream, "print the answer once it is complete");
}

// ---- people's mode --------------------------------------------------------------------------------------------

namespace {

struct Request {
  std::string prompt;
  std::vector<std::string> images;
};

std::vector<Request> read_batch_file(const std::string& path) {
  std::vector<Request> out;
  std::istringstream lines(vr::read_file(path));
  std::string line;
  for (int64_t n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      VR_FAIL("{} line {}: not JSON ({})", path, n, e.what());
    }
    VR_CHECK(j.is_object() && j.contains("prompt") && j["prompt"].is_string(),
             "{} line {}: expected {{\"prompt\": \"...\", \"images\": [...]}}", path, n);
    Request r{j["prompt"].get<std::string>(), {}};
    if (j.contains("images")) {
      VR_CHECK(j["images"].is_array(), "{} line {}: \"images\" must be a list of paths", path, n);
      for (const auto& p : j["images"]) {
        VR_CHECK(p.is_string(), "{} line {}: \"images\" must be a list of paths", path, n);
        std::string f = p.get<std::string>();
        // Relative image paths are read relative to the batch file.
        if (std::filesystem::path(f).is_relative()) f = (std::filesystem::path(path).parent_path() / f).string();
        r.images.push_back(f);
      }
    }
    out.push_back(std::move(r));
  }
  VR_CHECK(!out.empty(), "{}: no prompts", path);
  return out;
}

// Incremental detokenisation of one row: decode everything generated so far, print what was not printed yet —
// holding back a trailing partial UTF-8 character (decoded as U+FFFD) and any tail that could start a stop string.
class StreamPrinter {
 public:
  StreamPrinter(const vr::text::Tokenizer& tok, std::vector<std::string> stops, bool print)
      : tok_(tok), stops_(std::move(stops)), print_(print) {}

  // Returns true when a stop string appeared.
  bool push(int64_t id) {
    if (done_) return true;
    if (id >= 0 && id < tok_.vocab_size()) ids_.push_back(id);
    text_ = tok_.decode(ids_, /*skip_special_tokens=*/true);
    size_t stop_at = std::string::npos;
    for (const auto& s : stops_)
      if (!s.empty()) stop_at = std::min(stop_at, text_.find(s));
    if (stop_at != std::string::npos) {
      text_.resize(stop_at);
      done_ = true;
      emit(text_.size());
      return true;
    }
    size_t safe = text_.size();
    static const std::string kReplacement = "\xEF\xBF\xBD";
    if (safe >= 3 && text_.compare(safe - 3, 3, kReplacement) == 0) safe -= 3;
    for (const auto& s : stops_)
      for (size_t k = s.empty() ? 0 : std::min(s.size() - 1, safe); k > 0; --k)
        if (text_.compare(safe - k, k, s, 0, k) == 0) {
          safe -= k;
          break;
        }
    emit(safe);
    return false;
  }
  void finish() { emit(text_.size()); }
  // The answer without the leading whitespace of the first token (LLaVA strips its outputs too).
  std::string text() const {
    const size_t b = text_.find_first_not_of(" \t\n");
    return b == std::string::npos ? std::string() : text_.substr(b);
  }

 private:
  void emit(size_t upto) {
    if (printed_ == 0)  // never print the leading whitespace
      while (printed_ < upto && (text_[printed_] == ' ' || text_[printed_] == '\t' || text_[printed_] == '\n'))
        ++printed_;
    if (upto <= printed_) return;
    if (print_) {
      std::fwrite(text_.data() + printed_, 1, upto - printed_, stdout);
      std::fflush(stdout);
    }
    printed_ = upto;
  }
  const vr::text::Tokenizer& tok_;
  std::vector<std::string> stops_;
  bool print_;
  std::vector<int64_t> ids_;
  std::string text_;
  size_t printed_ = 0;
  bool done_ = false;
};

std::string default_template(const vr::text::Tokenizer& tok) {
  return tok.token_to_id("<|end_of_text|>") || tok.token_to_id("<|begin_of_text|>") ? "llama3" : "vicuna_v1";
}

std::string path_or(const std::string& given, const std::string& fallback) { return given.empty() ? fallback : given; }

// Prompts → ids with -200 image slots (`rows`); the images in row-major order.
void encode_requests(const std::vector<Request>& requests, const vr::data::ConversationTemplate& tpl,
                     const vr::data::TextEncoder& enc, std::vector<std::vector<int64_t>>& rows,
                     std::vector<std::string>& image_files) {
  for (const auto& r : requests) {
    std::string question = r.prompt;
    const int64_t marked = vr::data::count_image_tokens(question);
    if (marked == 0)
      for (size_t i = 0; i < r.images.size(); ++i) question = std::string(vr::data::kImageToken) + "\n" + question;
    else
      VR_CHECK(marked == static_cast<int64_t>(r.images.size()), "the prompt marks {} images with <image> but {} "
               "were given", marked, r.images.size());
    const std::string text = tpl.is_plain() ? question : tpl.render(std::vector<std::optional<std::string>>{question, std::nullopt});
    rows.push_back(vr::data::tokenizer_image_token(text, enc));
    image_files.insert(image_files.end(), r.images.begin(), r.images.end());
  }
}

// Generation options: the checkpoint's generation settings, the flags, the tokenizer's eos and pad.
vr::model::GenerateOptions chat_options(const ChatRun& run, const SharedGenerateFlags& shared,
                                        const vr::text::Tokenizer& tok) {
  auto settings = vr::model::read_generation_settings(run.model_dir, run.generation_config);
  vr::model::GenerateOptions opt = shared.options(settings);
  if (!run.eos_token_ids.empty()) opt.eos_token_ids = run.eos_token_ids;
  if (auto e = tok.eos_id(); e && run.eos_token_ids.empty())  // the tokenizer's eos ends a turn too
    if (std::find(opt.eos_token_ids.begin(), opt.eos_token_ids.end(), *e) == opt.eos_token_ids.end())
      opt.eos_token_ids.push_back(*e);
  if (run.no_eos) opt.eos_token_ids.clear();
  opt.pad_token_id = run.pad_token_id ? *run.pad_token_id
                     : settings.pad_token_id ? *settings.pad_token_id
                     : tok.pad_id()          ? *tok.pad_id()
                                             : settings.resolved_pad_token_id();
  opt.max_new_tokens = run.max_new_tokens ? *run.max_new_tokens : 256;
  return opt;
}

// Runs the checkpoint (text-only Llama or LVLM) on the left-padded batch.
vr::model::GenerateResult generate_batch(const ChatOptions& chat, const ChatRun& run, const SharedGenerateFlags& shared,
                                         const at::Tensor& ids, const at::Tensor& mask,
                                         const std::vector<std::string>& image_files,
                                         const vr::model::GenerateOptions& opt) {
  const std::string kind = vr::load_config_json(run.model_dir).value("model_type", std::string());
  if (kind == "llama") {
    VR_CHECK(image_files.empty(), "{} is a text-only Llama checkpoint: it cannot take --image", run.model_dir);
    auto model = vr::model::load_llama(run.model_dir, shared.dtype());
    model->eval();
    vr::model::LlamaInputs prompt;
    prompt.input_ids = ids;
    prompt.attention_mask = mask;
    return vr::model::generate_llama(*model, prompt, opt);
  }
  auto model = vr::model::load_lvlm(run.model_dir, shared.dtype());
  model->eval();
  at::Tensor pixels;
  if (!image_files.empty()) {
    const std::string proc_path = path_or(chat.processor, run.model_dir);
    const auto proc = vr::image::ImageProcessor::from_path(proc_path);
    const auto aspect = vr::image::parse_aspect_mode(chat.aspect);
    std::vector<at::Tensor> images;
    for (const auto& f : image_files) images.push_back(proc(vr::image::decode_image_file(f), aspect));
    pixels = torch::stack(images);
  }
  return vr::model::generate_lvlm(*model, ids, mask, pixels, opt);
}

}  // namespace

int run_chat(const ChatOptions& chat, const ChatRun& run, const SharedGenerateFlags& shared) {
  std::vector<Request> requests;
  if (!chat.batch_file.empty()) {
    VR_CHECK(chat.prompt.empty() && chat.images.empty(), "--batch-file cannot be combined with --prompt or --image");
    requests = read_batch_file(chat.batch_file);
  } else {
    VR_CHECK(!chat.prompt.empty(), "--image needs --prompt (the question about the image)");
    requests.push_back({chat.prompt, chat.images});
  }

  const std::string tok_path = path_or(chat.tokenizer, run.model_dir);
  VR_CHECK(!chat.tokenizer.empty() || std::filesystem::exists(run.model_dir + "/tokenizer.json"),
           "{} has no tokenizer.json: give --tokenizer PATH", run.model_dir);
  const auto tok = vr::text::Tokenizer::from_path(tok_path);
  vr::data::ConversationTemplate tpl =
      vr::data::conversation_template(chat.template_name.empty() ? default_template(tok) : chat.template_name);
  if (!chat.system.empty()) tpl.system = chat.system;
  std::vector<std::vector<int64_t>> rows;
  std::vector<std::string> image_files;
  encode_requests(requests, tpl, vr::data::TextEncoder::from_tokenizer(tok), rows, image_files);
  vr::model::GenerateOptions opt = chat_options(run, shared, tok);
  const int64_t pad = opt.pad_token_id;

  // Left-padded batch.
  const int64_t B = static_cast<int64_t>(rows.size());
  int64_t T = 0;
  for (const auto& r : rows) T = std::max<int64_t>(T, static_cast<int64_t>(r.size()));
  auto ids = torch::full({B, T}, pad, torch::kLong), mask = torch::zeros({B, T}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = static_cast<int64_t>(rows[b].size());
    ids[b].narrow(0, T - n, n).copy_(torch::tensor(rows[b], torch::kLong));
    mask[b].narrow(0, T - n, n).fill_(1);
  }

  std::vector<std::string> stops = chat.stops;
  if (!tpl.sep2.empty()) stops.push_back(tpl.sep2);
  const bool stream = B == 1 && !chat.no_stream;
  std::vector<StreamPrinter> printers;
  printers.reserve(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) printers.emplace_back(tok, stops, stream);
  opt.on_step = [&](int64_t, const at::Tensor& next) {
    std::vector<int64_t> stopped;
    auto cpu = next.to(at::kCPU);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t id = cpu[b].item<int64_t>();
      const bool eos = std::find(opt.eos_token_ids.begin(), opt.eos_token_ids.end(), id) != opt.eos_token_ids.end();
      if (!eos && printers[b].push(id)) stopped.push_back(b);
    }
    return stopped;
  };

  const vr::model::GenerateResult result = generate_batch(chat, run, shared, ids, mask, image_files, opt);

  if (stream) {
    printers[0].finish();
    std::printf("\n");
  } else {
    for (int64_t b = 0; b < B; ++b) {
      printers[b].finish();
      nlohmann::json line{{"prompt", requests[b].prompt}, {"answer", printers[b].text()}};
      if (!requests[b].images.empty()) line["images"] = requests[b].images;
      // Invalid UTF-8 (an answer cut inside a character) is written as U+FFFD rather than failing the batch.
      std::printf("%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
  }
  std::fflush(stdout);
  std::fprintf(stderr, "[generate] %lld rows, %lld new ids, prompt %lld positions\n", static_cast<long long>(B),
               static_cast<long long>(result.generated_ids.size(1)), static_cast<long long>(result.prompt_length));
  return 0;
}

}  // namespace vr::cli
