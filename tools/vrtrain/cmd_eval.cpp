// `vrtrain eval`: closed-set visual question answering on held-out synthetic-shapes images (vr/eval/shapes_vqa.h).
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/checkpoint.h"
#include "vr/core/device.h"
#include "vr/core/error.h"
#include "vr/image/image_processor.h"
#include "vr/text/tokenizer.h"
#include "vr/eval/shapes_vqa.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm.h"
#include "vrtrain/command.h"

namespace {

const char* kHelp =
    "vrtrain eval: did the model learn to see? Closed-set questions about held-out synthetic-shapes images.\n\n"
    "Usage: vrtrain eval --model DIR [--template vicuna_v1|llama3] [--aspect pad|square] [--samples N]\n"
    "                    [--seed S] [--image-size PX] [--output FILE.json] [--threads N]\n\n"
    "  --model DIR        an LVLM checkpoint with its tokenizer and preprocessor config, e.g. the final/\n"
    "                     directory of a run (runs/tiny_synthetic/final) or a `vrtrain make-tiny` model\n"
    "  --template NAME    the conversation template the model was trained with (default vicuna_v1)\n"
    "  --aspect MODE      image_aspect_ratio of training (default pad)\n"
    "  --samples N        held-out images (default 64); each asks 3 or 4 questions\n"
    "  --seed S           synthetic-shapes seed of the images (default 1000003; training uses data.synthetic.seed)\n"
    "  --image-size PX    drawn image size (default 56); the model's image processor resizes it\n"
    "  --output FILE      also write the scores as JSON\n\n"
    "For each question (shape: 3 answers, colour: 4, count: 3, left/right: 2) the model scores every candidate\n"
    "answer as the template renders it (sum of log-probabilities of its tokens) and picks the best. The table\n"
    "gives accuracy per question type next to chance; the answers depend on the image only.\n\n"
    "Example:\n"
    "  vrtrain --config configs/tiny_synthetic.yaml && vrtrain eval --model runs/tiny_synthetic/final\n";

int run_eval(const std::vector<std::string>& args) {
  vr::eval::ShapesVqaOptions opt;
  std::string model_dir, output;
  int64_t threads = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      VR_CHECK(i + 1 < args.size(), "eval: {} needs a value", a);
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    } else if (a == "--model") model_dir = value();
    else if (a == "--template") opt.template_name = value();
    else if (a == "--aspect") opt.aspect = vr::image::parse_aspect_mode(value());
    else if (a == "--samples") opt.num_samples = vr::cli::parse_int_arg(a, value());
    else if (a == "--seed") opt.seed = static_cast<uint64_t>(vr::cli::parse_int_arg(a, value()));
    else if (a == "--image-size") opt.image_size = static_cast<int>(vr::cli::parse_int_arg(a, value()));
    else if (a == "--output") output = value();
    else if (a == "--threads") threads = vr::cli::parse_int_arg(a, value());
    else VR_FAIL("eval: unknown option '{}' (see vrtrain eval --help)", a);
  }
  VR_CHECK(!model_dir.empty(), "eval: --model DIR is required (see vrtrain eval --help)");
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  vr::model::Lvlm model = vr::model::load_lvlm(model_dir);
  model->to(vr::default_device());
  auto tok = vr::text::Tokenizer::from_path(model_dir);
  auto proc = vr::image::ImageProcessor::from_path(model_dir);
  vr::eval::ShapesVqaReport r = vr::eval::evaluate_shapes_vqa(*model, tok, proc, opt);
  std::printf("%s: %lld questions on %lld held-out synthetic-shapes images (seed %llu)\n%s", model_dir.c_str(),
              static_cast<long long>(r.total), static_cast<long long>(opt.num_samples),
              static_cast<unsigned long long>(opt.seed), r.table().c_str());
  if (!output.empty()) {
    nlohmann::json j = r.to_json();
    j["model"] = model_dir;
    j["seed"] = opt.seed;
    j["samples"] = opt.num_samples;
    vr::atomic_write_file(output, j.dump(2) + "\n");
    std::printf("wrote %s\n", output.c_str());
  }
  return 0;
}

vr::cli::Registration reg{"eval", "Closed-set VQA on held-out synthetic-shapes images: accuracy vs chance",
                          &run_eval};

}  // namespace
