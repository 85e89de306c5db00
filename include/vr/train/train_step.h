// One optimizer step, as torchtitan's train_step: forward and backward over the step's micro-batches, the
// gradient sync, the non-finite check, clipping and the AdamW update. The loop (trainer.cpp) calls it once per
// step and does the logging and checkpoints around it.
//
// Step s (0-based) with accumulation A over W ranks:
//   for a in 0..A-1:  out = task.forward_next();  (out.loss / A).backward()      (token normalisation: below)
//                     a < A-1: reducer.end_micro_batch()   (ZeRO-2 reduce-scatters this micro-batch here)
//   reducer.synchronize(trainable)       ← gradients complete and averaged over ranks from here on
//   g = clip_grad_norm(max_grad_norm);  check loss and g finite (every rank decides alike)
//   adamw.step(schedule.factor(s))
// Mixed precision: when gradients are summed (A > 1) or averaged over ranks (W > 1), the gradients of bf16/fp16
// parameters accumulate in fp32 (.grad() is an fp32 tensor from the step's first backward on), so A micro-batches
// add up without bf16 rounding at each add, and the reducer, clipping and AdamW see fp32 averages. A lone
// micro-batch's gradient is used as autograd made it (no extra 2 bytes per element). ZeRO-2 accumulates in its
// fp32 gradient partition instead, so .grad() stays as autograd made it there too.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

#include "vr/train/lr_schedule.h"
#include "vr/train/metrics.h"
#include "vr/train/run_config.h"

namespace vr::distributed {
class Communicator;
class GradientReducer;
}  // namespace vr::distributed

namespace vr::train {

class AdamW;
class TrainTask;

struct StepParts {
  TrainTask& task;
  AdamW& opt;
  distributed::GradientReducer& reducer;
  distributed::Communicator& comm;
  const TrainSection& train;
  const LrSchedule& schedule;
  std::vector<at::Tensor> trainable;  // the model's trainable tensors, in registration order
};

// Runs optimizer step `step` (0-based) and returns its metrics (loss averaged over micro-batches and ranks;
// step_time_s, elapsed_s and epoch are left to the caller). Throws NonFiniteError before the update when a
// loss or the gradient norm is not finite; `last_checkpoint` is named in that message.
StepMetrics train_step(StepParts& parts, int64_t step, int64_t total_steps, const std::string& last_checkpoint);

// Whether train_step keeps .grad() of bf16/fp16 weights in fp32 (see above): with accumulation or several ranks,
// unless the reducer sums every micro-batch in its own fp32 partition (ZeRO-2).
bool uses_fp32_gradients(const TrainSection& t, int64_t world_size, bool reduces_every_micro_batch);
// The same from the config, before any reducer exists (memory plans): ZeRO-2 is dist.shard_optimizer with
// dist.zero_stage 2 on more than one rank.
bool uses_fp32_gradients(const TrainSection& t, const DistSection& d, int64_t world_size);

// Gives every bf16/fp16 tensor of `params` an fp32 .grad() of zeros, so autograd accumulates into fp32 (call
// after zero_grad, before the first backward of a step). fp32 tensors are left alone (their .grad() stays
// undefined until backward). Returns how many tensors got one.
int64_t use_fp32_gradients(const std::vector<at::Tensor>& params);

}  // namespace vr::train
