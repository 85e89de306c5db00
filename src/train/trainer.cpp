#include "vr/train/trainer.h"

#include <chrono>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <torch/torch.h>

#include "vr/core/logging.h"
#include "vr/core/process_memory.h"
#include "vr/core/tensorboard_writer.h"
#include "vr/core/torch_compat.h"
#include "vr/distributed/communicator.h"
#include "vr/distributed/gradient_reducer.h"
#include "vr/train/checkpointer.h"
#include "vr/train/lr_schedule.h"
#include "vr/train/metrics.h"
#include "vr/train/metrics_tensorboard.h"
#include "vr/train/optimizer.h"
#include "vr/train/run_context.h"
#include "vr/train/train_step.h"
#include "vr/train/trainable_params.h"

namespace fs = std::filesystem;

namespace vr::train {

int64_t total_optimizer_steps(const TrainSection& t, int64_t batches_per_epoch) {
  if (t.max_steps > 0) return t.max_steps;
  VR_CHECK(batches_per_epoch > 0, "the training data yields no batch: check data.path and train.batch_size");
  return t.epochs * std::max<int64_t>(1, batches_per_epoch / t.grad_accum);  // HF: len(dataloader) // accum
}

namespace {

// Parameter groups as in LLaVA's trainer: projector apart (its own lr), and no weight decay on norms / biases.
std::vector<ParamGroup> make_param_groups(torch::nn::Module& model, const TrainSection& t) {
  const double projector_lr = t.mm_projector_lr > 0 ? t.mm_projector_lr : t.lr;
  ParamGroup llm{"llm", t.lr, t.weight_decay, {}, {}}, llm_nd{"llm_no_decay", t.lr, 0.0, {}, {}};
  ParamGroup proj{"projector", projector_lr, t.weight_decay, {}, {}};
  ParamGroup proj_nd{"projector_no_decay", projector_lr, 0.0, {}, {}};
  for (auto& kv : model.named_parameters()) {
    if (!kv.value().requires_grad()) continue;
    bool is_proj = classify_param(kv.key()).role == ParamRole::Projector;
    bool no_decay = is_no_decay_param(kv.key(), kv.value().dim());
    ParamGroup& g = is_proj ? (no_decay ? proj_nd : proj) : (no_decay ? llm_nd : llm);
    g.names.push_back(kv.key());
    g.params.push_back(kv.value());
  }
  std::vector<ParamGroup> out;
  for (auto* g : {&llm, &llm_nd, &proj, &proj_nd})
    if (!g->params.empty()) out.push_back(std::move(*g));
  return out;
}

distributed::NamedTensors named_trainable(torch::nn::Module& model) {
  distributed::NamedTensors out;
  for (auto& kv : model.named_parameters())
    if (kv.value().requires_grad()) out.emplace_back(kv.key(), kv.value());
  return out;
}

}  // namespace

struct Trainer::Impl {
  const RunConfig& cfg;
  TrainTask& task;
  std::string config_yaml;
  std::function<void(const std::string&)> log;
  std::shared_ptr<distributed::Communicator> comm;
  std::shared_ptr<distributed::GradientReducer> reducer;
  c10::Device device;

  void say(const std::string& s) const {
    if (log && comm->rank() == 0) log(s);
  }

  // Data parallel: buckets and hooks, rank 0's weights everywhere, then a check that every rank holds the same
  // model; the plan's line about it.
  void attach_data_parallel(const distributed::NamedTensors& trainable, AdamW& opt) {
    reducer->attach(trainable);
    const int64_t world = comm->world_size();
    if (world == 1) return;
    distributed::NamedTensors all;
    for (auto& kv : task.module().named_parameters()) all.emplace_back(kv.key(), kv.value());
    comm->verify_identical(all, /*bitwise=*/false, "at the start");
    const TrainSection& t = cfg.train;
    say(fmt::format("{}, {}; global batch {} = batch_size {} x grad_accum {} x {} ranks; optimizer state {:.2f} MB "
                    "per rank",
                    comm->describe(), reducer->describe(), t.batch_size * t.grad_accum * world, t.batch_size,
                    t.grad_accum, world, static_cast<double>(opt.num_state_elements()) * 4 / 1e6));
  }

  void check_ranks_agree(const distributed::NamedTensors& trainable, int64_t step) {
    const int64_t world = comm->world_size();
    if (world == 1) return;
    const int64_t n = comm->verify_identical(trainable, /*bitwise=*/true, "after training");
    if (comm->rank() == world - 1)
      vr::log::info("trainable weights bit-identical on all {} ranks after step {} ({} tensors)", world, step, n);
  }
};

Trainer::Trainer(const RunConfig& cfg, const RunContext& ctx, TrainTask& task, std::string config_yaml,
                 std::function<void(const std::string&)> log)
    : impl_(new Impl{cfg, task, std::move(config_yaml), std::move(log), ctx.comm, ctx.reducer, ctx.device}) {
  VR_CHECK(impl_->comm != nullptr && impl_->reducer != nullptr,
           "Trainer: the run context has no communicator or gradient reducer");
}

Trainer::Trainer(const RunConfig& cfg, TrainTask& task, std::string config_yaml,
                 std::function<void(const std::string&)> log)
    : Trainer(cfg, RunContext::single_process(), task, std::move(config_yaml), std::move(log)) {}

Trainer::~Trainer() = default;

namespace {

// CUDA: the step's allocator peaks, and its MFU from this rank's share of the step (tokens and images are global
// after the step's all-reduce) over the step time.
void add_gpu_figures(StepMetrics& m, int cuda_index, TrainTask& task, const TrainSection& t) {
  m.gpu_peak_allocated_bytes = compat::cuda_peak_allocated_bytes(cuda_index);
  m.gpu_peak_reserved_bytes = compat::cuda_peak_reserved_bytes(cuda_index);
  const int64_t w = m.world_size, samples = t.batch_size * t.grad_accum;
  const auto flops = task.step_model_flops(m.tokens / w, samples, m.images / w);
  if (flops && m.step_time_s > 0 && t.peak_tflops > 0) m.mfu = *flops / m.step_time_s / (t.peak_tflops * 1e12);
}

}  // namespace

// The loop wires the pieces together: resume, then per step train_step, metrics and progress, and a checkpoint
// when one is due; at the end the cross-rank check and the export.
TrainResult Trainer::run() {
  const RunConfig& cfg = impl_->cfg;
  const TrainSection& t = cfg.train;
  TrainTask& task = impl_->task;
  fs::create_directories(cfg.output_dir);
  const distributed::NamedTensors trainable = named_trainable(task.module());
  VR_CHECK(!trainable.empty(), "no trainable parameter: freeze the model with apply_freeze() first");
  AdamW opt(make_param_groups(task.module(), t), {}, impl_->reducer, impl_->comm);  // ZeRO when the reducer shards
  const int64_t total = total_optimizer_steps(t, task.batches_per_epoch());
  const LrSchedule schedule = LrSchedule::make(t.lr_scheduler, total, t.warmup_ratio);
  Checkpointer checkpointer(cfg, task, *impl_->comm, impl_->config_yaml);

  TrainResult r;
  const std::optional<std::string> resumed = checkpointer.resume(opt, r);
  if (resumed) impl_->say(fmt::format("resumed from {} at step {}/{}", *resumed, r.start_step, total));
  impl_->attach_data_parallel(trainable, opt);
  std::optional<MetricsWriter> metrics;
  std::optional<TensorBoardMetrics> board;  // the same lines as TensorBoard scalars (log.tensorboard)
  if (impl_->comm->rank() == 0) {
    // A run that resumed nothing starts at step 0: lines and events an earlier run left in output_dir go, so every
    // step appears once (a second `resume: never` run into the same folder used to append to the first's curve).
    metrics.emplace((fs::path(cfg.output_dir) / "metrics.jsonl").string(), resumed ? r.start_step : 0);
    if (cfg.log.tensorboard) {
      if (!resumed) vr::drop_tensorboard_events_after(cfg.output_dir, 0);  // no restart marker: nothing resumed
      board.emplace(cfg.output_dir, resumed ? r.start_step : -1);
    }
  }

  StepParts parts{task, opt, *impl_->reducer, *impl_->comm, t, schedule, {}};
  for (const auto& [name, p] : trainable) parts.trainable.push_back(p);
  task.module().train();
  using clock = std::chrono::steady_clock;
  const auto run_start = clock::now();
  double step_seconds_sum = 0;
  RunFigureLog figure_log;
  int64_t step = r.start_step;
  while (step < total) {
    const auto step_start = clock::now();
    const int cuda_index = impl_->device.is_cuda() ? std::max<int>(0, impl_->device.index()) : -1;
    if (cuda_index >= 0) compat::cuda_reset_peak_stats(cuda_index);
    StepMetrics m = train_step(parts, step, total, r.last_checkpoint);
    ++step;
    m.world_size = impl_->comm->world_size();
    m.step_time_s = std::chrono::duration<double>(clock::now() - step_start).count();  // (MFU divides by it)
    if (cuda_index >= 0) add_gpu_figures(m, cuda_index, task, t);
    m.elapsed_s = std::chrono::duration<double>(clock::now() - run_start).count();
    m.epoch = task.epoch();
    m.host_peak_rss_bytes = vr::peak_rss_bytes();
    step_seconds_sum += m.step_time_s;
    if (r.first_loss == 0 && step == 1) r.first_loss = m.loss;
    r.last_loss = m.loss;
    r.tokens += m.tokens;
    r.images += m.images;
    figure_log.add(m);
    nlohmann::json line = m.to_json();
    line.update(task.take_step_metrics());  // every rank resets its task's figures; rank 0 writes its own
    if (metrics) metrics->write(line);
    if (board) board->write(line);
    if (step % t.log_every == 0 || step == total)
      impl_->say(format_progress(m, step_seconds_sum / static_cast<double>(step - r.start_step),
                                   figure_log.figures()));
    if (checkpointer.due(step, total)) checkpointer.save(opt, step, r);
    if (t.stop_after_step > 0 && step == t.stop_after_step && step < total) {
      r.stopped_early = true;
      break;
    }
  }
  impl_->check_ranks_agree(trainable, step);
  r.steps_done = step;
  r.figures = figure_log.figures();
  r.seconds = std::chrono::duration<double>(clock::now() - run_start).count();
  checkpointer.export_final(r);
  return r;
}

}  // namespace vr::train
