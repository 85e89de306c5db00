// Who and where this process is in a run: made once from the config (and, for multi-process runs, the
// environment the launcher exported) and handed to the loader, the task and the trainer, so none of them
// guesses its rank, device or seeds on its own.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <c10/core/Device.h>

namespace vr::distributed {
class Communicator;
class GradientReducer;
}

namespace vr::train {

struct RunConfig;

struct RunContext {
  int64_t rank = 0, world_size = 1;              // this process among all of the run
  int64_t local_rank = 0, local_world_size = 1;  // ... among those on this machine (GPU index, thread share)
  c10::Device device{c10::kCPU};                 // where the model and batches live
  std::shared_ptr<distributed::Communicator> comm;        // never null; rank 0 of 1 for one process
  std::shared_ptr<distributed::GradientReducer> reducer;  // never null; does nothing for one process
  uint64_t seed = 42;        // train.seed: LoRA initialisation and the sampler's shuffle (same on every rank)
  // The global generator's seed on this rank (dropout masks): generator_seed(seed, rank). Different on every
  // rank, as with one process that draws new masks for every micro-batch; deterministic per (seed, rank).
  uint64_t dropout_seed = 42;
  uint64_t data_seed = 0;    // data.synthetic_seed: the synthetic dataset's content

  bool is_main() const { return rank == 0; }  // the rank that logs progress and writes files
  // Rank 0 of 1 on the CPU with train.seed's default: for tests and tools without a run config.
  static RunContext single_process();
};

// From cfg.train.device ("auto": cuda:<local_rank> when available), cfg.train.seed and cfg.data.synthetic_seed.
// One process: rank 0 of 1, single-process communicator and reducer. `data_parallel` (vrtrain train): rank, world
// size and master from the environment (torchrun, Slurm, Open MPI, vrtrain launch) with dist.* overriding, and for
// a world size above 1 the c10d-backed pair (rendezvous happens here; vr/distributed/data_parallel.h); log lines
// get "[rank R]". On CUDA the local rank's device is checked against the visible devices (vr/core/device.h).
RunContext make_run_context(const RunConfig& cfg, bool data_parallel = false);

// Rank 0: `seed` itself (a one-process run and rank 0 draw the same masks); rank r > 0: seed + r · 1000003.
// step > 0: the stream a rank > 0 restarts with when resuming at that optimizer step (checkpoints hold rank 0's
// generator only, which rank 0 restores): seed + r · 1000003 + step · 7919. Deterministic, but not the stream an
// uninterrupted run would have continued on that rank.
uint64_t generator_seed(uint64_t seed, int64_t rank, int64_t step = 0);

// "rank 0/1, device cpu, seed 42": the line printed at start.
std::string describe(const RunContext& ctx);

}  // namespace vr::train
