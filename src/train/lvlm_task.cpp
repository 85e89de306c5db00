#include "vr/train/lvlm_task.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/logging.h"
#include "vr/core/torch_compat.h"
#include "vr/data/loader.h"
#include "vr/model/lvlm_flops.h"
#include "vr/model/lvlm.h"
#include "vr/train/final_export.h"
#include "vr/train/run_context.h"

namespace vr::train {

LvlmTask::LvlmTask(std::shared_ptr<model::Lvlm> model, std::unique_ptr<data::DataLoader> loader,
                   const RunContext& ctx, bool lora, std::string model_dir)
    : model_(std::move(model)),
      loader_(std::move(loader)),
      device_(ctx.device),
      lora_(lora),
      model_dir_(std::move(model_dir)) {
  if (loader_->packing() && ctx.rank == 0) {
    const data::PackingStats p = loader_->packing_plan();
    vr::log::info("data.packing: epoch 0 packs {} samples into {} rows: {:.2f} samples per row, {:.1f}% padding "
                  "({} of {} merged slots); {} micro-batches per epoch and rank",
                  p.samples, p.rows, p.samples_per_row(), 100.0 * p.padding_share(), p.slots - p.tokens, p.slots,
                  loader_->batches_per_epoch());
  }
}

LvlmTask::~LvlmTask() = default;

std::optional<double> LvlmTask::step_model_flops(int64_t tokens, int64_t samples, int64_t images) const {
  if (tokens <= 0 || samples <= 0) return std::nullopt;
  return model::lvlm_step_model_flops(**model_, tokens, samples, images);
}

model::LvlmInputs model_inputs(const data::Batch& b) {
  model::LvlmInputs in;
  in.input_ids = b.input_ids;
  in.attention_mask = b.attention_mask;
  in.labels = b.labels;
  in.pixel_values = b.pixel_values;
  in.segment_ids = b.segment_ids;  // packed rows (undefined unpacked): the model reads them on the host
  in.return_logits = false;        // the loss runs lm_head on supervised positions only (model/lm_loss.h)
  return in;
}

torch::nn::Module& LvlmTask::module() { return **model_; }

MicroBatchOutput LvlmTask::forward_next() {
  std::optional<data::Batch> b = loader_->next();
  if (!b) b = loader_->next();  // end of an epoch: the next call starts the next one
  VR_CHECK(b.has_value(), "the data loader yields no batch (empty dataset?)");
  model::LvlmInputs in = model_inputs(*b);
  const auto device = device_;
  const auto dtype = (*model_)->language_model->lm_head->weight.scalar_type();
  // To a GPU: through page-locked host memory with asynchronous copies, so the transfer queues behind the work
  // already on the stream instead of stalling the host; the copy engine overlaps it with compute.
  const bool async = device.is_cuda();
  auto to_device = [&](const at::Tensor& t, at::ScalarType type) {
    if (!t.defined() || (t.device() == device && t.scalar_type() == type)) return t;
    const at::Tensor src = async && t.is_cpu() ? t.pin_memory() : t;
    return src.to(device, type, /*non_blocking=*/async);
  };
  in.input_ids = to_device(in.input_ids, in.input_ids.scalar_type());
  in.attention_mask = to_device(in.attention_mask, in.attention_mask.scalar_type());
  in.labels = to_device(in.labels, in.labels.scalar_type());
  in.pixel_values = to_device(in.pixel_values, dtype);  // images in the model dtype
  model::LvlmOutput out = (*model_)->forward(in);
  MicroBatchOutput r;
  r.loss = out.loss;
  // No supervised token at all (every answer truncated away, or every sample hit the reference's "tokenization
  // mismatch" fallback): the reference's mean over zero tokens is NaN, which would stop the run. The micro-batch
  // teaches nothing, so the loss is 0 (graph kept, zero gradients; model/lm_loss.h) and it is reported.
  r.supervised_tokens = out.supervised_tokens;
  if (out.supervised_tokens == 0) {
    ++unsupervised_batches_;
    vr::log::warn("micro-batch with no supervised token (all labels -100; samples {}): it counts as loss 0 "
                  "({} such micro-batches so far)",
                  fmt::format("{}", fmt::join(b->ids, ", ")), unsupervised_batches_);
  }
  // Non-padding positions, read by the trainer with the step's losses (no host sync here).
  r.tokens_tensor = out.merged_attention_mask.defined() ? out.merged_attention_mask.sum() : b->attention_mask.sum();
  r.images = b->pixel_values.defined() ? b->pixel_values.size(0) : 0;
  r.sample_ids = b->ids;
  step_samples_ += static_cast<int64_t>(b->ids.size());
  step_rows_ += b->input_ids.size(0);
  step_slots_ += out.merged_attention_mask.defined() ? out.merged_attention_mask.numel() : b->attention_mask.numel();
  step_tokens_.push_back(r.tokens_tensor.detach());
  return r;
}

nlohmann::json LvlmTask::take_step_metrics() {
  int64_t tokens = 0;
  if (!step_tokens_.empty()) tokens = at::stack(step_tokens_).sum().to(at::kCPU).item<int64_t>();
  nlohmann::json j{{"samples", step_samples_},
                   {"rows", step_rows_},
                   {"padding_share", step_slots_ ? 1.0 - static_cast<double>(tokens) / static_cast<double>(step_slots_)
                                                 : 0.0}};
  step_samples_ = step_rows_ = step_slots_ = 0;
  step_tokens_.clear();
  return j;
}

int64_t LvlmTask::batches_per_epoch() const { return loader_->batches_per_epoch(); }
int64_t LvlmTask::epoch() const { return static_cast<int64_t>(loader_->state().epoch); }

nlohmann::json LvlmTask::data_state() const { return nlohmann::json::parse(loader_->state().to_json()); }

void LvlmTask::restore_data_state(const nlohmann::json& state) {
  loader_->restore(data::LoaderState::from_json(state.dump()));
}

void LvlmTask::export_final(const std::string& dir) { export_lvlm(*model_, dir, lora_, model_dir_); }

}  // namespace vr::train
