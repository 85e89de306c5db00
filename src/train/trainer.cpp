#include "vr/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (moved here in fmt 11, which LibTorch 2.x bundles)
#include <torch/torch.h>

#include "vr/core/logging.h"
#include "vr/distributed/gradient_sync.h"
#include "vr/train/lr_schedule.h"
#include "vr/train/metrics.h"
#include "vr/train/optimizer.h"
#include "vr/train/run_context.h"
#include "vr/train/trainable_params.h"
#include "vr/train/train_state.h"

namespace fs = std::filesystem;

namespace vr::train {

int64_t total_optimizer_steps(const TrainSection& t, int64_t batches_per_epoch) {
  if (t.max_steps > 0) return t.max_steps;
  VR_CHECK(batches_per_epoch > 0, "the training data yields no batch: check data.path and train.batch_size");
  return t.epochs * std::max<int64_t>(1, batches_per_epoch / t.grad_accum);  // HF: len(dataloader) // accum
}

// Parameter groups as in LLaVA's trainer: projector apart (its own lr), and no weight decay on norms / biases.
static std::vector<ParamGroup> make_param_groups(torch::nn::Module& model, const TrainSection& t) {
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

struct Trainer::Impl {
  const RunConfig& cfg;
  TrainTask& task;
  std::string config_yaml;
  std::function<void(const std::string&)> log;
  std::shared_ptr<distributed::GradientSync> sync;
  bool is_main() const { return sync->rank() == 0; }

  void say(const std::string& s) const {
    if (log && is_main()) log(s);
  }

  TrainCheckpoint capture(TensorMap optimizer_state, int64_t step, const TrainResult& r) {
    TrainCheckpoint c;
    for (auto& kv : task.module().named_parameters())
      if (kv.value().requires_grad()) c.trainable[kv.key()] = kv.value().detach();
    c.optimizer = std::move(optimizer_state);
    c.rng = capture_rng_state();
    c.state = {{"step", step},        {"data", task.data_state()}, {"tokens", r.tokens},
               {"images", r.images}, {"first_loss", r.first_loss}, {"world_size", sync->world_size()},
               {"global_batch", cfg.train.batch_size * cfg.train.grad_accum * sync->world_size()}};
    c.config_yaml = config_yaml;
    return c;
  }
};

Trainer::Trainer(const RunConfig& cfg, const RunContext& ctx, TrainTask& task, std::string config_yaml,
                 std::function<void(const std::string&)> log)
    : impl_(new Impl{cfg, task, std::move(config_yaml), std::move(log), ctx.sync}) {
  VR_CHECK(impl_->sync != nullptr, "Trainer: the run context has no gradient-sync object");
}

Trainer::Trainer(const RunConfig& cfg, TrainTask& task, std::string config_yaml,
                 std::function<void(const std::string&)> log)
    : Trainer(cfg, RunContext::single_process(), task, std::move(config_yaml), std::move(log)) {}

Trainer::~Trainer() = default;


// The loader position of a checkpoint saved with `saved_w` ranks, for `w` ranks at the same global batch: each
// rank's position counts its micro-batches of B, i.e. global position = position * W (vr/data/sampler.h).
static nlohmann::json rescale_data_state(nlohmann::json data, int64_t saved_w, int64_t w, const std::string& dir) {
  if (saved_w == w || !data.contains("position")) return data;
  const int64_t global = data.at("position").get<int64_t>() * saved_w;
  VR_CHECK(global % w == 0,
           "resume from '{}': saved with {} ranks at loader position {}, which {} ranks cannot continue evenly "
           "(keep train.batch_size and make grad_accum x world size equal)",
           dir, saved_w, data.at("position").get<int64_t>(), w);
  data["position"] = global / w;
  return data;
}

TrainResult Trainer::run() {
  const RunConfig& cfg = impl_->cfg;
  const TrainSection& t = cfg.train;
  TrainTask& task = impl_->task;
  torch::nn::Module& model = task.module();
  fs::create_directories(cfg.output_dir);

  std::vector<at::Tensor> trainable;
  for (auto& kv : model.named_parameters())
    if (kv.value().requires_grad()) trainable.push_back(kv.value());
  VR_CHECK(!trainable.empty(), "no trainable parameter: freeze the model with apply_freeze() first");
  AdamW opt(make_param_groups(model, t), {}, impl_->sync);  // sharded (ZeRO) when the sync is
  const int64_t total = total_optimizer_steps(t, task.batches_per_epoch());
  const LrSchedule schedule = LrSchedule::make(t.lr_scheduler, total, t.warmup_ratio);

  TrainResult r;
  // ---- resume ------------------------------------------------------------------------------------------
  std::optional<std::string> resume_dir;
  if (cfg.resume == "auto") resume_dir = latest_checkpoint(cfg.output_dir);
  else if (cfg.resume != "never") resume_dir = cfg.resume;
  if (resume_dir) {
    TrainCheckpoint c = load_train_checkpoint(*resume_dir);
    torch::NoGradGuard no_grad;
    for (auto& kv : model.named_parameters()) {
      if (!kv.value().requires_grad()) continue;
      auto it = c.trainable.find(kv.key());
      VR_CHECK(it != c.trainable.end(), "resume from '{}': trainable tensor '{}' is not in the checkpoint",
               *resume_dir, kv.key());
      VR_CHECK(it->second.sizes() == kv.value().sizes(), "resume from '{}': tensor '{}' has another shape",
               *resume_dir, kv.key());
      kv.value().copy_(it->second);
    }
    opt.load_state_dict(c.optimizer);
    restore_rng_state(c.rng);  // rank 0's generator; ranks > 0 restart their own deterministic stream
    if (impl_->sync->rank() > 0)
      torch::manual_seed(generator_seed(static_cast<uint64_t>(t.seed), impl_->sync->rank(),
                                        c.state.at("step").get<int64_t>()));
    const int64_t saved_w = c.state.value("world_size", int64_t{1});
    const int64_t saved_gb = c.state.value("global_batch", int64_t{0});
    const int64_t gb = t.batch_size * t.grad_accum * impl_->sync->world_size();
    VR_CHECK(saved_gb == 0 || saved_gb == gb,
             "resume from '{}': saved with global batch {} ({} ranks), this run has {} (batch_size {} x grad_accum "
             "{} x {} ranks); keep the global batch when changing the number of ranks",
             *resume_dir, saved_gb, saved_w, gb, t.batch_size, t.grad_accum, impl_->sync->world_size());
    task.restore_data_state(rescale_data_state(c.state.at("data"), saved_w, impl_->sync->world_size(), *resume_dir));
    r.start_step = c.state.at("step").get<int64_t>();
    r.tokens = c.state.value("tokens", int64_t{0});
    r.images = c.state.value("images", int64_t{0});
    r.first_loss = c.state.value("first_loss", 0.0);
    r.last_checkpoint = *resume_dir;
    impl_->say(fmt::format("resumed from {} at step {}/{}", *resume_dir, r.start_step, total));
  }
  distributed::GradientSync& sync = *impl_->sync;
  const int64_t world = sync.world_size();
  std::vector<std::pair<std::string, at::Tensor>> named_trainable;
  for (auto& kv : model.named_parameters())
    if (kv.value().requires_grad()) named_trainable.emplace_back(kv.key(), kv.value());
  sync.attach(named_trainable);  // buckets, gradient hooks, weights broadcast from rank 0
  if (world > 1) {
    std::vector<std::pair<std::string, at::Tensor>> all;
    for (auto& kv : model.named_parameters()) all.emplace_back(kv.key(), kv.value());
    sync.verify_identical(all, /*bitwise=*/false, "at the start");
  }
  const bool token_norm = t.loss_normalization == "token";
  std::optional<MetricsWriter> metrics;
  if (impl_->is_main())
    metrics.emplace((fs::path(cfg.output_dir) / "metrics.jsonl").string(), resume_dir ? r.start_step : -1);
  if (world > 1)
    impl_->say(fmt::format("{}; global batch {} = batch_size {} x grad_accum {} x {} ranks; optimizer state {:.2f} "
                           "MB per rank", sync.describe(), t.batch_size * t.grad_accum * world, t.batch_size,
                           t.grad_accum, world, static_cast<double>(opt.num_state_elements()) * 4 / 1e6));

  // ---- loop --------------------------------------------------------------------------------------------
  model.train();
  using clock = std::chrono::steady_clock;
  const auto run_start = clock::now();
  double step_seconds_sum = 0;
  int64_t step = r.start_step;
  bool saved_at_step = false;
  while (step < total) {
    const auto step_start = clock::now();
    opt.zero_grad();
    StepMetrics m;
    m.step = step + 1;
    m.total_steps = total;
    double loss_sum = 0;
    int64_t supervised = 0;
    std::string nonfinite;  // this rank's first non-finite loss (data parallel: decided collectively below)
    // The micro-batch losses (and token counts a task gives as tensors) stay on the device until the step's
    // one host read below: no host sync per micro-batch for logging or the NaN check.
    std::vector<at::Tensor> step_values;
    std::vector<std::vector<std::string>> step_ids;
    for (int64_t a = 0; a < t.grad_accum; ++a) {
      sync.begin_micro_batch(a + 1 == t.grad_accum);
      MicroBatchOutput out = task.forward_next();
      const at::Tensor loss_value = out.loss.detach().reshape({}).to(at::kDouble);
      step_values.push_back(loss_value);
      step_values.push_back(out.tokens_tensor.defined() ? out.tokens_tensor.reshape({}).to(loss_value.options())
                                                        : at::full({}, static_cast<double>(out.tokens),
                                                                   loss_value.options()));
      step_ids.push_back(out.sample_ids);
      if (token_norm) {
        // Sum of the micro-batch's token losses; divided by the step's supervised tokens of all ranks below.
        VR_CHECK(out.supervised_tokens >= 0, "train.loss_normalization=token: the task reports no supervised "
                                             "token count");
        (out.loss * static_cast<double>(out.supervised_tokens)).backward();
        supervised += out.supervised_tokens;
      } else {
        (out.loss / static_cast<double>(t.grad_accum)).backward();
      }
      m.images += out.images;
    }
    {
      // The step's host read of its losses. A non-finite one stops the step before the optimizer update (its
      // backward ran, but the gradients are dropped with the step; data parallel: decided collectively below).
      const at::Tensor values = at::stack(step_values).to(at::kCPU);
      for (int64_t a = 0; a < t.grad_accum; ++a) {
        const double loss = values[2 * a].item<double>();
        m.tokens += static_cast<int64_t>(values[2 * a + 1].item<double>());
        if (!std::isfinite(loss) && world > 1) {
          if (nonfinite.empty())
            nonfinite = fmt::format("rank {}: loss is {} at step {} (micro-batch {} of {}; samples {})", sync.rank(),
                                    loss, step + 1, a + 1, t.grad_accum, fmt::join(step_ids[a], ", "));
          continue;
        }
        if (!std::isfinite(loss))
          throw NonFiniteError(fmt::format(
              "loss is {} at step {} (micro-batch {} of {}; samples {}); stopped before the optimizer update, so "
              "the last checkpoint ({}) is intact",
              loss, step + 1, a + 1, t.grad_accum, fmt::join(step_ids[a], ", "),
              r.last_checkpoint.empty() ? "none yet" : r.last_checkpoint));
        loss_sum += loss;
      }
    }
    sync.synchronize(trainable);  // data-parallel seam: gradients complete (averaged over ranks) from here on
    m.allreduce_bytes = sync.bytes_last_step();
    m.comm_wait_s = sync.wait_seconds_last_step();
    m.optimizer_state_bytes = opt.num_state_elements() * 4;
    if (world > 1) {
      // One small all-reduce: non-finite ranks, supervised tokens, loss sum, tokens, images of the global step.
      auto g = sync.all_reduce_sum({nonfinite.empty() ? 0.0 : 1.0, static_cast<double>(supervised), loss_sum,
                                    static_cast<double>(m.tokens), static_cast<double>(m.images)});
      if (g[0] > 0)
        throw NonFiniteError(fmt::format(
            "{} of {} ranks saw a non-finite loss at step {}{}; every rank stops before the optimizer update, so "
            "the last checkpoint ({}) is intact",
            g[0], world, step + 1, nonfinite.empty() ? "" : " (" + nonfinite + ")",
            r.last_checkpoint.empty() ? "none yet" : r.last_checkpoint));
      supervised = static_cast<int64_t>(g[1]);
      loss_sum = g[2] / static_cast<double>(world);  // mean over ranks of the per-rank sum of micro-batch means
      m.tokens = static_cast<int64_t>(g[3]);
      m.images = static_cast<int64_t>(g[4]);
    }
    if (token_norm) {
      // synchronize averaged over ranks: grad = (sum over ranks of token-loss sums) / W; make it / N_global.
      torch::NoGradGuard no_grad;
      const double scale = static_cast<double>(world) / static_cast<double>(std::max<int64_t>(1, supervised));
      opt.scale_gradients(scale);
    }
    // Sharded: the norm over every rank's partition. Else in the model's parameter order, as torch's clip_grad_norm_.
    m.grad_norm = opt.sharded() ? opt.clip_grad_norm(t.max_grad_norm) : clip_grad_norm(trainable, t.max_grad_norm);
    if (!std::isfinite(m.grad_norm))
      throw NonFiniteError(fmt::format("gradient norm is {} at step {}; stopped before the optimizer update, so the "
                                       "last checkpoint ({}) is intact",
                                       m.grad_norm, step + 1,
                                       r.last_checkpoint.empty() ? "none yet" : r.last_checkpoint));
    const double factor = schedule.factor(step);
    opt.step(factor);
    opt.zero_grad();
    ++step;

    m.loss = loss_sum / static_cast<double>(t.grad_accum);
    for (const auto& g : opt.groups()) {
      if (g.name.rfind("projector", 0) == 0) m.lr_projector = g.lr * factor;
      else m.lr = g.lr * factor;
    }
    if (m.lr == 0 && m.lr_projector != 0 && opt.groups().front().name.rfind("projector", 0) == 0)
      m.lr = m.lr_projector;  // pretrain: the projector is the only group
    m.step_time_s = std::chrono::duration<double>(clock::now() - step_start).count();
    m.elapsed_s = std::chrono::duration<double>(clock::now() - run_start).count();
    m.epoch = task.epoch();
    step_seconds_sum += m.step_time_s;
    if (r.first_loss == 0 && step == 1) r.first_loss = m.loss;
    r.last_loss = m.loss;
    r.tokens += m.tokens;
    r.images += m.images;
    if (metrics) metrics->write(m.to_json());
    if (step % t.log_every == 0 || step == total)
      impl_->say(format_progress(m, step_seconds_sum / static_cast<double>(step - r.start_step)));

    saved_at_step = false;
    if ((t.save_every > 0 && step % t.save_every == 0) || step == total ||
        (t.stop_after_step > 0 && step == t.stop_after_step)) {
      TensorMap optimizer_state = opt.state_dict();  // collective when sharded: gathered on rank 0
      if (impl_->is_main())
        r.last_checkpoint = save_train_checkpoint(cfg.output_dir, step,
                                                  impl_->capture(std::move(optimizer_state), step, r), t.keep_last);
      saved_at_step = true;
      // Data parallel: no rank moves on (or exits) before rank 0's checkpoint is complete on disk.
      if (world > 1) sync.all_reduce_sum({0.0});
    }
    if (t.stop_after_step > 0 && step == t.stop_after_step && step < total) {
      r.stopped_early = true;
      break;
    }
  }
  (void)saved_at_step;
  if (world > 1) {
    const int64_t n = sync.verify_identical(named_trainable, /*bitwise=*/true, "after training");
    if (sync.rank() == world - 1)
      vr::log::info("trainable weights bit-identical on all {} ranks after step {} ({} tensors)", world, step, n);
  }
  r.steps_done = step;
  r.seconds = std::chrono::duration<double>(clock::now() - run_start).count();
  if (!r.stopped_early && t.export_final && impl_->is_main()) {
    std::string final_dir = (fs::path(cfg.output_dir) / "final").string();
    task.export_final(final_dir);
  }
  return r;
}

}  // namespace vr::train
