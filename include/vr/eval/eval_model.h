// A checkpoint loaded for evaluation, and the two things every evaluation task asks of it:
//   score_answers  sum of log-probabilities of candidate answers, each rendered as the assistant's turn of the
//                  training template (the same tokens and label masking as training: the answer's tokens and
//                  the turn terminator, e.g. " Paris</s>");
//   generate       greedy answers to prompts, as LLaVA's model_vqa: the template's generation prompt
//                  ("... USER: <image>\nQ ASSISTANT:"), greedy decoding with a KV cache, the output decoded
//                  without special tokens and stripped.
// Shapes: C candidates, B prompts in a batch, M merged length (text + image features), H LLM width.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

#include "vr/data/batch.h"
#include "vr/data/template.h"
#include "vr/data/text_encoder.h"
#include "vr/image/image_processor.h"
#include "vr/model/lvlm.h"
#include "vr/text/tokenizer.h"

namespace vr::eval {

struct EvalModelOptions {
  std::string template_name = "vicuna_v1";
  vr::image::AspectMode aspect = vr::image::AspectMode::Pad;
  int64_t model_max_length = 2048;
};

// One question: the human turn's text (with "<image>" where the image goes) and its images ([3,S,S] each).
struct Prompt {
  std::string human;
  std::vector<at::Tensor> pixels;
};

class EvalModel {
 public:
  // Loads model, tokenizer and image processor from `dir` onto vr::default_device(), in eval mode.
  EvalModel(const std::string& dir, const EvalModelOptions& opt);

  // Sum of log p over each candidate's supervised tokens (answer + terminator), [C] in candidate order.
  std::vector<double> score_answers(const Prompt& prompt, const std::vector<std::string>& candidates);
  // Greedy continuations of B prompts (batched, left-padded, KV-cached).
  std::vector<std::string> generate(const std::vector<Prompt>& prompts, int64_t max_new_tokens);
  // The generation prompt as text: template.render({human, <assistant to come>}).
  std::string prompt_text(const std::string& human) const;
  // An image file decoded and preprocessed as in training ([3,S,S] float32); vr::Error naming the file.
  at::Tensor load_image(const std::string& path) const;

  const std::string& dir() const { return dir_; }
  vr::model::LvlmImpl& model() { return *model_; }
  const vr::text::Tokenizer& tokenizer() const { return tok_; }
  const vr::image::ImageProcessor& processor() const { return proc_; }
  const EvalModelOptions& options() const { return opt_; }

 private:
  const vr::data::ConversationTemplate& qa_template() const;  // the template; vr::Error for "plain"

  std::string dir_;
  EvalModelOptions opt_;
  vr::model::Lvlm model_;
  vr::text::Tokenizer tok_;
  vr::image::ImageProcessor proc_;
  const vr::data::ConversationTemplate* tpl_;
  vr::data::TextEncoder enc_;
  vr::data::CollateOptions collate_;
};

// The template `name` for asking questions; vr::Error for "plain" (captions only: no question/answer turns), which
// only the loss task accepts.
const vr::data::ConversationTemplate& question_answer_template(const std::string& name);

// Per-row sum of log p(label) at supervised positions; logits [C,M,V] predict position t+1 from t, labels [C,M]
// (-100 ignored). Also returns the supervised token counts. vr::Error when a row has no supervised token.
std::vector<double> sequence_logprobs(const at::Tensor& logits, const at::Tensor& labels,
                                      std::vector<int64_t>* counts = nullptr);

}  // namespace vr::eval
