#include "vr/eval/eval_model.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/device.h"
#include "vr/core/error.h"
#include "vr/data/conversation.h"
#include "vr/data/label_masking.h"
#include "vr/data/loader.h"
#include "vr/image/image.h"
#include "vr/model/layouts.h"
#include "vr/model/lvlm_generate.h"

namespace vr::eval {

std::vector<double> sequence_logprobs(const at::Tensor& logits, const at::Tensor& labels, std::vector<int64_t>* counts) {
  auto lp = torch::log_softmax(logits.slice(1, 0, -1).to(torch::kFloat), -1);  // [C,M-1,V]
  auto next = labels.slice(1, 1).to(logits.device());                          // [C,M-1]
  auto mask = next.ne(vr::data::kIgnoreIndex);
  auto picked = lp.gather(2, next.clamp_min(0).unsqueeze(2)).squeeze(2);       // [C,M-1]
  auto sums = picked.masked_fill(mask.logical_not(), 0).sum(1).to(torch::kDouble).cpu().contiguous();
  auto n = mask.sum(1).to(torch::kLong).cpu().contiguous();
  VR_CHECK(n.numel() == 0 || n.min().item<int64_t>() > 0, "evaluation: a candidate answer has no supervised token");
  if (counts) counts->assign(n.data_ptr<int64_t>(), n.data_ptr<int64_t>() + n.numel());
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
}

EvalModel::EvalModel(const std::string& dir, const EvalModelOptions& opt)
    : dir_(dir),
      opt_(opt),
      model_(vr::model::load_lvlm(dir)),
      tok_(vr::text::Tokenizer::from_path(dir)),
      proc_(vr::image::ImageProcessor::from_path(dir)),
      tpl_(&vr::data::conversation_template(opt.template_name)),
      enc_(vr::data::TextEncoder::from_tokenizer(tok_)),
      collate_(vr::data::collate_options_for(tok_, opt.template_name, opt.model_max_length)) {
  model_->to(vr::default_device());
  model_->eval();
}

const vr::data::ConversationTemplate& question_answer_template(const std::string& name) {
  const vr::data::ConversationTemplate& tpl = vr::data::conversation_template(name);
  VR_CHECK(!tpl.is_plain(), "evaluation: template '{}' has no question/answer turns (use the template of "
                            "instruction tuning, e.g. vicuna_v1 or llama3)", name);
  return tpl;
}

const vr::data::ConversationTemplate& EvalModel::qa_template() const {
  return question_answer_template(opt_.template_name);
}

at::Tensor EvalModel::load_image(const std::string& path) const {
  VR_CHECK(std::filesystem::is_regular_file(path), "image '{}' does not exist", path);
  return proc_(vr::image::decode_image_file(path), opt_.aspect);
}

std::string EvalModel::prompt_text(const std::string& human) const {
  return qa_template().render(std::vector<std::optional<std::string>>{human, std::nullopt});
}

std::vector<double> EvalModel::score_answers(const Prompt& prompt, const std::vector<std::string>& candidates) {
  torch::NoGradGuard no_grad;
  const bool has_image = !prompt.pixels.empty();
  const at::Tensor ref = model_->parameters().front();
  // One row per candidate: the same question and image(s), the candidate as the assistant's turn.
  std::vector<vr::data::PreparedSample> rows;
  for (size_t c = 0; c < candidates.size(); ++c) {
    vr::data::PreparedSample row;
    row.id = "candidate-" + std::to_string(c);
    row.index = static_cast<int64_t>(c);
    row.tokens = vr::data::tokenize_conversation({{"human", prompt.human}, {"gpt", candidates[c]}}, has_image, qa_template(),
                                                 enc_, opt_.model_max_length);
    VR_CHECK(!row.tokens.mismatch, "evaluation: the template's label masking failed on candidate '{}'",
             candidates[c]);
    row.pixels = prompt.pixels;
    rows.push_back(std::move(row));
  }
  vr::data::Batch b = vr::data::collate(std::move(rows), collate_);
  vr::model::LvlmInputs in;
  in.input_ids = b.input_ids.to(ref.device());
  in.attention_mask = b.attention_mask.to(ref.device());
  in.labels = b.labels.to(ref.device());
  if (b.pixel_values.defined() && b.pixel_values.numel() > 0)
    in.pixel_values = b.pixel_values.to(ref.device(), ref.scalar_type());
  vr::model::LvlmOutput out = model_->forward(in);
  return sequence_logprobs(out.logits, out.merged_labels);
}

std::vector<std::string> EvalModel::generate(const std::vector<Prompt>& prompts, int64_t max_new_tokens) {
  if (prompts.empty()) return {};
  torch::NoGradGuard no_grad;
  const at::Tensor ref = model_->parameters().front();
  const int64_t pad = collate_.pad_id;
  // Left-padded ids [B,T] with one -200 per image, as LLaVA's tokenizer_image_token builds them.
  std::vector<std::vector<int64_t>> ids;
  std::vector<at::Tensor> pixels;
  size_t T = 0;
  for (const Prompt& p : prompts) {
    ids.push_back(vr::data::tokenizer_image_token(prompt_text(p.human), enc_));
    T = std::max(T, ids.back().size());
    for (const auto& px : p.pixels) pixels.push_back(px);
  }
  const int64_t B = static_cast<int64_t>(prompts.size());
  at::Tensor input_ids = torch::full({B, static_cast<int64_t>(T)}, pad, torch::kLong);
  at::Tensor mask = torch::zeros({B, static_cast<int64_t>(T)}, torch::kLong);
  auto ids_a = input_ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& row = ids[static_cast<size_t>(b)];
    const int64_t off = static_cast<int64_t>(T - row.size());
    for (size_t t = 0; t < row.size(); ++t) {
      ids_a[b][off + static_cast<int64_t>(t)] = row[t];
      mask_a[b][off + static_cast<int64_t>(t)] = 1;
    }
  }
  vr::model::GenerateOptions g;
  g.max_new_tokens = max_new_tokens;
  if (auto eos = tok_.eos_id()) g.eos_token_ids = {*eos};
  g.pad_token_id = pad;
  at::Tensor pv;
  if (!pixels.empty()) pv = torch::stack(pixels).to(ref.device(), ref.scalar_type());
  vr::model::GenerateResult r =
      vr::model::generate_lvlm(*model_, input_ids.to(ref.device()), mask.to(ref.device()), pv, g);
  at::Tensor gen_t = r.generated_ids.cpu().contiguous(), chosen_t = r.unfinished.cpu().contiguous();
  auto gen = gen_t.accessor<int64_t, 2>();
  auto chosen = chosen_t.accessor<int64_t, 2>();
  std::vector<std::string> out;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> row;
    for (int64_t t = 0; t < gen_t.size(1); ++t) {
      const int64_t id = gen[b][t];
      if (chosen[b][t] == 0) break;                            // forced pad after the end
      if (std::find(g.eos_token_ids.begin(), g.eos_token_ids.end(), id) != g.eos_token_ids.end()) break;
      row.push_back(id);
    }
    // Answers go into JSON files: any invalid UTF-8 (a multi-byte character cut by max_new_tokens) becomes U+FFFD,
    // as Python's decode(errors="replace") would give.
    const std::string text = vr::data::strip_whitespace(tok_.decode(row, /*skip_special_tokens=*/true));
    const std::string quoted = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back(nlohmann::json::parse(quoted).get<std::string>());
  }
  return out;
}

}  // namespace vr::eval
