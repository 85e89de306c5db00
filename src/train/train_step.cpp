#include "vr/train/train_step.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (moved here in fmt 11, which LibTorch 2.x bundles)
#include <torch/torch.h>

#include "vr/distributed/communicator.h"
#include "vr/distributed/gradient_reducer.h"
#include "vr/train/optimizer.h"
#include "vr/train/trainer.h"

namespace vr::train {

namespace {

std::string checkpoint_note(const std::string& last_checkpoint) {
  return fmt::format("stopped before the optimizer update, so the last checkpoint ({}) is intact",
                     last_checkpoint.empty() ? "none yet" : last_checkpoint);
}

// What the micro-batches of one step add up to on this rank.
struct MicroBatchTotals {
  double loss_sum = 0;      // sum of the micro-batch mean losses
  int64_t supervised = 0;   // supervised tokens (token normalisation)
  int64_t tokens = 0, images = 0;
  std::string nonfinite;    // this rank's first non-finite loss (data parallel: decided collectively)
};

// Forward and backward over the step's micro-batches. The micro-batch losses (and token counts a task gives as
// tensors) stay on the device until the step's one host read at the end: no host sync per micro-batch.
MicroBatchTotals run_micro_batches(StepParts& p, int64_t step, const std::string& last_checkpoint) {
  const TrainSection& t = p.train;
  const bool token_norm = t.loss_normalization == "token";
  const bool data_parallel = p.comm.world_size() > 1;
  MicroBatchTotals sum;
  std::vector<at::Tensor> values;
  std::vector<std::vector<std::string>> ids;
  for (int64_t a = 0; a < t.grad_accum; ++a) {
    p.reducer.begin_micro_batch(a + 1 == t.grad_accum);
    MicroBatchOutput out = p.task.forward_next();
    const at::Tensor loss_value = out.loss.detach().reshape({}).to(at::kDouble);
    values.push_back(loss_value);
    values.push_back(out.tokens_tensor.defined()
                         ? out.tokens_tensor.reshape({}).to(loss_value.options())
                         : at::full({}, static_cast<double>(out.tokens), loss_value.options()));
    ids.push_back(out.sample_ids);
    if (token_norm) {
      // Sum of the micro-batch's token losses; divided by the step's supervised tokens of all ranks later.
      VR_CHECK(out.supervised_tokens >= 0, "train.loss_normalization=token: the task reports no supervised token "
                                           "count");
      (out.loss * static_cast<double>(out.supervised_tokens)).backward();
      sum.supervised += out.supervised_tokens;
    } else {
      (out.loss / static_cast<double>(t.grad_accum)).backward();
    }
    if (a + 1 < t.grad_accum) p.reducer.end_micro_batch();
    sum.images += out.images;
  }
  // The step's host read. A non-finite loss stops the step before the optimizer update (its backward ran, but
  // the gradients are dropped with the step; data parallel: decided collectively by the caller).
  const at::Tensor host = at::stack(values).to(at::kCPU);
  for (int64_t a = 0; a < t.grad_accum; ++a) {
    const double loss = host[2 * a].item<double>();
    sum.tokens += static_cast<int64_t>(host[2 * a + 1].item<double>());
    if (std::isfinite(loss)) {
      sum.loss_sum += loss;
      continue;
    }
    const std::string where = fmt::format("at step {} (micro-batch {} of {}; samples {})", step + 1, a + 1,
                                          t.grad_accum, fmt::join(ids[static_cast<size_t>(a)], ", "));
    if (!data_parallel) throw NonFiniteError(fmt::format("loss is {} {}; {}", loss, where, checkpoint_note(last_checkpoint)));
    if (sum.nonfinite.empty()) sum.nonfinite = fmt::format("rank {}: loss is {} {}", p.comm.rank(), loss, where);
  }
  return sum;
}

// Data parallel: one small all-reduce of the step's scalars; every rank stops alike on a non-finite loss.
void reduce_over_ranks(StepParts& p, MicroBatchTotals& sum, int64_t step, const std::string& last_checkpoint) {
  const int64_t world = p.comm.world_size();
  if (world == 1) return;
  auto g = p.comm.all_reduce_sum({sum.nonfinite.empty() ? 0.0 : 1.0, static_cast<double>(sum.supervised),
                                  sum.loss_sum, static_cast<double>(sum.tokens), static_cast<double>(sum.images)});
  if (g[0] > 0)
    throw NonFiniteError(fmt::format("{} of {} ranks saw a non-finite loss at step {}{}; every rank {}", g[0], world,
                                     step + 1, sum.nonfinite.empty() ? "" : " (" + sum.nonfinite + ")",
                                     checkpoint_note(last_checkpoint)));
  sum.supervised = static_cast<int64_t>(g[1]);
  sum.loss_sum = g[2] / static_cast<double>(world);  // mean over ranks of the per-rank sum of micro-batch means
  sum.tokens = static_cast<int64_t>(g[3]);
  sum.images = static_cast<int64_t>(g[4]);
}

void record_learning_rates(const AdamW& opt, double factor, StepMetrics& m) {
  for (const auto& g : opt.groups()) {
    if (g.name.rfind("projector", 0) == 0) m.lr_projector = g.lr * factor;
    else m.lr = g.lr * factor;
  }
  if (m.lr == 0 && m.lr_projector != 0 && opt.groups().front().name.rfind("projector", 0) == 0)
    m.lr = m.lr_projector;  // pretrain: the projector is the only group
}

}  // namespace

int64_t use_fp32_gradients(const std::vector<at::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) {
    if (p.scalar_type() == at::kFloat || p.grad().defined()) continue;
    // Autograd adds each micro-batch's (bf16) gradient into this fp32 tensor in place.
    p.mutable_grad() = at::zeros(p.sizes(), p.options().dtype(at::kFloat));
    ++n;
  }
  return n;
}

bool uses_fp32_gradients(const TrainSection& t, int64_t world_size, bool reduces_every_micro_batch) {
  return !reduces_every_micro_batch && (t.grad_accum > 1 || world_size > 1);
}

bool uses_fp32_gradients(const TrainSection& t, const DistSection& d, int64_t world_size) {
  return uses_fp32_gradients(t, world_size, world_size > 1 && d.shard_optimizer && d.zero_stage == 2);
}

StepMetrics train_step(StepParts& p, int64_t step, int64_t total_steps, const std::string& last_checkpoint) {
  const TrainSection& t = p.train;
  StepMetrics m;
  m.step = step + 1;
  m.total_steps = total_steps;
  p.opt.zero_grad();
  if (uses_fp32_gradients(t, p.comm.world_size(), p.reducer.reduces_every_micro_batch()))
    use_fp32_gradients(p.trainable);
  MicroBatchTotals sum = run_micro_batches(p, step, last_checkpoint);
  p.reducer.synchronize(p.trainable);  // data-parallel seam: gradients complete (averaged over ranks) from here on
  m.allreduce_bytes = p.reducer.bytes_last_step();
  m.comm_wait_s = p.reducer.wait_seconds_last_step();
  m.optimizer_state_bytes = p.opt.num_state_elements() * 4;
  reduce_over_ranks(p, sum, step, last_checkpoint);
  if (t.loss_normalization == "token") {
    // synchronize averaged over ranks: grad = (sum over ranks of token-loss sums) / W; make it / N_global.
    torch::NoGradGuard no_grad;
    p.opt.scale_gradients(static_cast<double>(p.comm.world_size()) /
                          static_cast<double>(std::max<int64_t>(1, sum.supervised)));
  }
  // Sharded: the norm over every rank's partition. Else in the model's parameter order, as torch's clip_grad_norm_.
  m.grad_norm = p.opt.sharded() ? p.opt.clip_grad_norm(t.max_grad_norm) : clip_grad_norm(p.trainable, t.max_grad_norm);
  if (!std::isfinite(m.grad_norm))
    throw NonFiniteError(fmt::format("gradient norm is {} at step {}; {}", m.grad_norm, step + 1,
                                     checkpoint_note(last_checkpoint)));
  const double factor = p.schedule.factor(step);
  p.opt.step(factor);
  p.opt.zero_grad();
  m.loss = sum.loss_sum / static_cast<double>(t.grad_accum);
  m.tokens = sum.tokens;
  m.images = sum.images;
  record_learning_rates(p.opt, factor, m);
  return m;
}

}  // namespace vr::train
