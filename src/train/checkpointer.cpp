#include "vr/train/checkpointer.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/distributed/communicator.h"
#include "vr/train/optimizer.h"
#include "vr/train/run_context.h"
#include "vr/train/train_state.h"
#include "vr/train/trainer.h"

namespace fs = std::filesystem;

namespace vr::train {

namespace {

// The loader position of a checkpoint saved with `saved_w` ranks, for `w` ranks at the same global batch: each
// rank's position counts its micro-batches of B, i.e. global position = position * W (vr/data/sampler.h).
nlohmann::json rescale_data_state(nlohmann::json data, int64_t saved_w, int64_t w, const std::string& dir) {
  if (saved_w == w || !data.contains("position")) return data;
  const int64_t global = data.at("position").get<int64_t>() * saved_w;
  VR_CHECK(global % w == 0,
           "resume from '{}': saved with {} ranks at loader position {}, which {} ranks cannot continue evenly "
           "(keep train.batch_size and make grad_accum x world size equal)",
           dir, saved_w, data.at("position").get<int64_t>(), w);
  data["position"] = global / w;
  return data;
}

// Test hook: VR_TEST_SAVE_DELAY_S=<seconds> makes rank 0 take that much longer over every save, as a checkpoint
// of ~100 GB would (tests/distributed/ddp_e2e_test.cpp: a save slower than dist.timeout_s).
void injected_save_delay() {
  if (const char* s = std::getenv("VR_TEST_SAVE_DELAY_S"))
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(std::atof(s) * 1000)));
}

}  // namespace

Checkpointer::Checkpointer(const RunConfig& cfg, TrainTask& task, distributed::Communicator& comm,
                           std::string config_yaml)
    : cfg_(cfg), task_(task), comm_(comm), config_yaml_(std::move(config_yaml)) {}

std::optional<std::string> Checkpointer::resume(AdamW& opt, TrainResult& r) {
  std::optional<std::string> dir;
  if (cfg_.resume == "auto") dir = latest_checkpoint(cfg_.output_dir);
  else if (cfg_.resume != "never") dir = cfg_.resume;
  if (!dir) return dir;
  const TrainSection& t = cfg_.train;
  TrainCheckpoint c = load_train_checkpoint(*dir);
  load_trainable_weights(task_.module(), c, *dir);  // tensor by tensor from the mapped file
  opt.load_state_dict(c.optimizer, [&c](const std::string& key) { c.release_optimizer(key); });
  const int64_t step = c.state.at("step").get<int64_t>();
  restore_rng_state(c.rng);  // rank 0's generator; ranks > 0 restart their own deterministic stream
  if (comm_.rank() > 0) torch::manual_seed(generator_seed(static_cast<uint64_t>(t.seed), comm_.rank(), step));
  const int64_t world = comm_.world_size();
  const int64_t saved_w = c.state.value("world_size", int64_t{1});
  const int64_t saved_gb = c.state.value("global_batch", int64_t{0});
  const int64_t gb = t.batch_size * t.grad_accum * world;
  VR_CHECK(saved_gb == 0 || saved_gb == gb,
           "resume from '{}': saved with global batch {} ({} ranks), this run has {} (batch_size {} x grad_accum {} "
           "x {} ranks); keep the global batch when changing the number of ranks",
           *dir, saved_gb, saved_w, gb, t.batch_size, t.grad_accum, world);
  task_.restore_data_state(rescale_data_state(c.state.at("data"), saved_w, world, *dir));
  r.start_step = step;
  r.tokens = c.state.value("tokens", int64_t{0});
  r.images = c.state.value("images", int64_t{0});
  r.first_loss = c.state.value("first_loss", 0.0);
  r.last_checkpoint = *dir;
  return dir;
}

bool Checkpointer::due(int64_t step, int64_t total_steps) const {
  const TrainSection& t = cfg_.train;
  return (t.save_every > 0 && step % t.save_every == 0) || step == total_steps ||
         (t.stop_after_step > 0 && step == t.stop_after_step);
}

void Checkpointer::save(AdamW& opt, int64_t step, TrainResult& r) {
  TensorMap optimizer_state = opt.state_dict();  // collective when sharded: gathered on rank 0
  const std::string what = fmt::format("the checkpoint of step {}", step);
  if (comm_.rank() == 0) {
    TrainCheckpoint c;
    for (auto& kv : task_.module().named_parameters())
      if (kv.value().requires_grad()) c.trainable[kv.key()] = kv.value().detach();
    c.optimizer = std::move(optimizer_state);
    c.rng = capture_rng_state();
    c.state = {{"step", step},        {"data", task_.data_state()}, {"tokens", r.tokens},
               {"images", r.images}, {"first_loss", r.first_loss}, {"world_size", comm_.world_size()},
               {"global_batch", cfg_.train.batch_size * cfg_.train.grad_accum * comm_.world_size()}};
    c.config_yaml = config_yaml_;
    injected_save_delay();
    r.last_checkpoint = save_train_checkpoint(cfg_.output_dir, step, c, cfg_.train.keep_last);
  }
  // No rank moves on (or exits) before rank 0's checkpoint is complete on disk, however long it takes.
  comm_.wait_for_main_rank(what);
}

void Checkpointer::export_final(const TrainResult& r) {
  if (r.stopped_early || !cfg_.train.export_final || comm_.rank() != 0) return;
  task_.export_final((fs::path(cfg_.output_dir) / "final").string());
}

}  // namespace vr::train
