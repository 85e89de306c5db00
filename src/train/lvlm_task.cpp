#include "vr/train/lvlm_task.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/logging.h"
#include "vr/core/torch_compat.h"
#include "vr/data/loader.h"
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
      model_dir_(std::move(model_dir)) {}

LvlmTask::~LvlmTask() = default;

torch::nn::Module& LvlmTask::module() { return **model_; }

MicroBatchOutput LvlmTask::forward_next() {
  std::optional<data::Batch> b = loader_->next();
  if (!b) b = loader_->next();  // end of an epoch: the next call starts the next one
  VR_CHECK(b.has_value(), "the data loader yields no batch (empty dataset?)");
  model::LvlmInputs in;
  in.input_ids = b->input_ids;
  in.attention_mask = b->attention_mask;
  in.labels = b->labels;
  in.pixel_values = b->pixel_values;
  in.return_logits = false;  // the loss runs lm_head on supervised positions only (model/lm_loss.h)
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
  return r;
}

int64_t LvlmTask::batches_per_epoch() const { return loader_->batches_per_epoch(); }
int64_t LvlmTask::epoch() const { return static_cast<int64_t>(loader_->state().epoch); }

nlohmann::json LvlmTask::data_state() const { return nlohmann::json::parse(loader_->state().to_json()); }

void LvlmTask::restore_data_state(const nlohmann::json& state) {
  loader_->restore(data::LoaderState::from_json(state.dump()));
}

void LvlmTask::export_final(const std::string& dir) { export_lvlm(*model_, dir, lora_, model_dir_); }

}  // namespace vr::train
