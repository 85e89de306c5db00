#include "vr/eval/loss_eval.h"

#include <cmath>
#include <limits>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/data/conversation.h"
#include "vr/data/loader.h"
#include "vr/eval/eval_model.h"

namespace vr::eval {

double LossResult::loss() const {
  return tokens > 0 ? nll_sum / static_cast<double>(tokens) : std::numeric_limits<double>::quiet_NaN();
}
double LossResult::perplexity() const { return std::exp(loss()); }

nlohmann::json LossReport::metrics() const {
  auto row = [](const LossResult& r) {
    return nlohmann::json{{"loss", r.loss()},       {"perplexity", r.perplexity()},
                          {"tokens", r.tokens},     {"records", r.records},
                          {"masked_records", r.masked_records}};
  };
  nlohmann::json j = row(overall);
  for (const auto& d : by_dataset) j["by_dataset"][d.source] = row(d);
  return j;
}

std::string LossReport::table() const {
  std::string s = fmt::format("{:<40} {:>8} {:>10} {:>9} {:>10}\n", "data", "records", "tokens", "loss", "perplexity");
  auto line = [&](const std::string& name, const LossResult& r) {
    s += fmt::format("{:<40} {:>8} {:>10} {:>9.4f} {:>10.3f}\n", name, r.records, r.tokens, r.loss(), r.perplexity());
  };
  for (const auto& d : by_dataset) line(d.source, d);
  if (by_dataset.size() > 1) line("all", overall);
  return s;
}

LossReport evaluate_loss(EvalModel& em, const LossEvalOptions& opt) {
  VR_CHECK(!opt.data.empty(), "eval --task loss: no --data file given");
  VR_CHECK(opt.batch_size > 0, "eval --task loss: --batch-size must be > 0, got {}", opt.batch_size);
  const auto& eo = em.options();
  std::vector<std::shared_ptr<vr::data::Dataset>> sets;
  int64_t total_records = 0;
  for (const auto& path : opt.data) {
    vr::data::DatasetOptions d = opt.dataset;
    d.path = path;
    d.template_name = eo.template_name;
    sets.push_back(vr::data::open_dataset(d));
    VR_CHECK(sets.back()->size() > 0, "{}: the file holds no record", path);
    total_records += sets.back()->size();
  }
  torch::NoGradGuard no_grad;
  vr::model::LvlmImpl& model = em.model();
  const at::Tensor ref = model.parameters().front();
  LossReport report;
  int64_t done = 0;
  for (const auto& ds : sets) {
    vr::data::LoaderOptions lo;
    lo.batch_size = opt.batch_size;
    lo.num_workers = 0;  // in order, on this thread: the records of a file are read once each
    lo.shuffle = false;
    lo.model_max_length = eo.model_max_length;
    vr::data::DataLoader loader(
        ds, vr::data::make_sample_preparer(em.tokenizer(), em.processor(), eo.aspect, eo.template_name, eo.model_max_length),
        vr::data::collate_options_for(em.tokenizer(), eo.template_name, eo.model_max_length), lo);
    LossResult r;
    r.source = ds->source();
    std::set<int64_t> seen;
    while (auto b = loader.next()) {
      vr::model::LvlmInputs in;
      in.input_ids = b->input_ids.to(ref.device());
      in.attention_mask = b->attention_mask.to(ref.device());
      in.labels = b->labels.to(ref.device());
      if (b->pixel_values.defined() && b->pixel_values.numel() > 0)
        in.pixel_values = b->pixel_values.to(ref.device(), ref.scalar_type());
      vr::model::LvlmOutput out = model.forward(in);
      // Token-level sums per row: -log p of each supervised next token (logits [B,M,V] at t predict labels[t+1]).
      auto lp = torch::log_softmax(out.logits.slice(1, 0, -1).to(torch::kFloat), -1);
      auto next = out.merged_labels.slice(1, 1);
      auto mask = next.ne(vr::data::kIgnoreIndex);
      auto picked = lp.gather(2, next.clamp_min(0).unsqueeze(2)).squeeze(2).masked_fill(mask.logical_not(), 0);
      auto row_nll = (-picked.sum(1)).to(torch::kDouble).cpu().contiguous();
      auto row_tokens = mask.sum(1).to(torch::kLong).cpu().contiguous();
      for (int64_t i = 0; i < row_nll.size(0); ++i) {
        // The sampler wraps the last batch around to keep it full: count every record once.
        if (!seen.insert(b->sample_indices[static_cast<size_t>(i)]).second) continue;
        const int64_t n = row_tokens[i].item<int64_t>();
        r.nll_sum += row_nll[i].item<double>();
        r.tokens += n;
        r.records += 1;
        r.masked_records += n == 0;
        done += 1;
      }
      if (opt.progress) opt.progress(done, total_records);
    }
    report.overall.records += r.records;
    report.overall.tokens += r.tokens;
    report.overall.nll_sum += r.nll_sum;
    report.overall.masked_records += r.masked_records;
    report.by_dataset.push_back(r);
  }
  report.overall.source = "all";
  return report;
}

}  // namespace vr::eval
