#include "vr/eval/shapes_vqa.h"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/data/batch.h"
#include "vr/data/label_masking.h"
#include "vr/data/loader.h"
#include "vr/data/template.h"
#include "vr/data/text_encoder.h"
#include "vr/data/synthetic_shapes.h"
#include "vr/eval/eval_model.h"
#include "vr/text/tokenizer.h"
#include "vr/model/lvlm.h"

namespace vr::eval {

namespace {

// Sum over each row of log p(label) at the supervised positions: logits [C,M,V] predict position t+1 from t.
std::vector<double> answer_logprobs(const at::Tensor& logits, const at::Tensor& labels) {
  auto lp = torch::log_softmax(logits.slice(1, 0, -1).to(torch::kFloat), -1);  // [C,M-1,V]
  auto next = labels.slice(1, 1);                                              // [C,M-1]
  auto mask = next.ne(-100);
  auto picked = lp.gather(2, next.clamp_min(0).unsqueeze(2)).squeeze(2);       // [C,M-1]
  auto sums = picked.masked_fill(mask.logical_not(), 0).sum(1).to(torch::kDouble).cpu();
  VR_CHECK(mask.sum(1).min().item<int64_t>() > 0, "shapes VQA: a candidate answer has no supervised token");
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
}

}  // namespace

ShapesVqaReport evaluate_shapes_vqa(vr::model::LvlmImpl& model, const vr::text::Tokenizer& tok,
                                    const vr::image::ImageProcessor& proc, const ShapesVqaOptions& opt) {
  VR_CHECK(opt.num_samples > 0, "shapes VQA: num_samples must be > 0, got {}", opt.num_samples);
  vr::data::SyntheticShapesOptions so;
  so.num_samples = opt.num_samples;
  so.image_size = opt.image_size;
  so.seed = opt.seed;
  vr::data::SyntheticShapesDataset ds(so);
  const vr::data::ConversationTemplate& tpl = question_answer_template(opt.template_name);
  const vr::data::TextEncoder enc = vr::data::TextEncoder::from_tokenizer(tok);
  const vr::data::CollateOptions collate_opt = vr::data::collate_options_for(tok, opt.template_name, 2048);

  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const at::Tensor ref = model.parameters().front();  // a copy: parameters() returns a temporary vector
  std::map<std::string, QuestionTypeScore> by_type;
  ShapesVqaReport report;
  double chance_sum = 0;
  // One row per (question, candidate answer): the image and question, the candidate as the assistant's turn.
  // Rows of several questions and images share one forward pass (right-padded; a row's own positions see the
  // same causal context as alone), which is ~10x fewer passes than one per question for the tiny models.
  struct Pending {
    std::string type;
    int64_t first_row = 0, candidates = 0, answer = 0;
  };
  std::vector<vr::data::PreparedSample> rows;
  std::vector<Pending> pending;
  auto score_pending = [&] {
    if (rows.empty()) return;
    vr::data::Batch b = vr::data::collate(std::move(rows), collate_opt);
    rows.clear();
    vr::model::LvlmInputs in;
    in.input_ids = b.input_ids.to(ref.device());
    in.attention_mask = b.attention_mask.to(ref.device());
    in.labels = b.labels.to(ref.device());
    in.pixel_values = b.pixel_values.to(ref.device(), ref.scalar_type());
    vr::model::LvlmOutput out = model.forward(in);
    const std::vector<double> lp = answer_logprobs(out.logits, out.merged_labels);
    for (const Pending& q : pending) {
      int64_t best = 0;
      for (int64_t c = 1; c < q.candidates; ++c)
        if (lp[q.first_row + c] > lp[q.first_row + best]) best = c;
      QuestionTypeScore& t = by_type[q.type];
      t.type = q.type;
      t.chance = 1.0 / static_cast<double>(q.candidates);
      t.total += 1;
      t.correct += best == q.answer;
      report.total += 1;
      report.correct += best == q.answer;
      chance_sum += t.chance;
    }
    pending.clear();
  };
  constexpr size_t kShapesRowsPerForward = 48;
  for (int64_t i = 0; i < opt.num_samples; ++i) {
    const vr::data::ShapeScene scene = ds.scene(i);
    const at::Tensor pixels = proc(ds.draw(scene, i), opt.aspect);  // [3,H,W], shared by every row of the image
    for (const vr::data::ShapeQuestion& q : vr::data::questions_about(scene)) {
      pending.push_back({q.type, static_cast<int64_t>(rows.size()), static_cast<int64_t>(q.candidates.size()),
                         static_cast<int64_t>(q.answer)});
      for (const std::string& answer : q.candidates) {
        vr::data::PreparedSample row;
        row.id = fmt::format("shapes-vqa-{}-{}", i, q.type);
        row.index = i;
        row.tokens = vr::data::tokenize_conversation(
            {{"human", std::string(vr::data::kImageToken) + "\n" + q.question}, {"gpt", answer}},
            /*has_image=*/true, tpl, enc, /*model_max_length=*/2048);
        row.pixels = {pixels};
        rows.push_back(std::move(row));
      }
    }
    if (rows.size() >= kShapesRowsPerForward) score_pending();
  }
  score_pending();
  model.train(was_training);
  for (const char* type : {"shape", "colour", "count", "position"})
    if (by_type.count(type)) report.by_type.push_back(by_type.at(type));
  report.chance = chance_sum / static_cast<double>(report.total);
  return report;
}

std::string ShapesVqaReport::table() const {
  std::string s = fmt::format("{:<10} {:>9} {:>9} {:>8}\n", "question", "accuracy", "chance", "asked");
  for (const auto& t : by_type)
    s += fmt::format("{:<10} {:>8.1f}% {:>8.1f}% {:>8}\n", t.type, 100 * t.accuracy(), 100 * t.chance, t.total);
  s += fmt::format("{:<10} {:>8.1f}% {:>8.1f}% {:>8}\n", "all", 100 * accuracy(), 100 * chance, total);
  return s;
}

nlohmann::json ShapesVqaReport::to_json() const {
  nlohmann::json j;
  j["accuracy"] = accuracy();
  j["chance"] = chance;
  j["questions"] = total;
  for (const auto& t : by_type)
    j["by_type"][t.type] = {{"accuracy", t.accuracy()}, {"chance", t.chance}, {"questions", t.total}};
  return j;
}

}  // namespace vr::eval
