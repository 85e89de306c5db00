#include "vr/train/run_context.h"

#include <fmt/format.h>

#include "vr/core/device.h"
#include "vr/core/logging.h"
#include "vr/distributed/data_parallel.h"
#include "vr/distributed/rendezvous.h"
#include "vr/train/run_config.h"

namespace vr::train {

RunContext RunContext::single_process() {
  RunContext ctx;
  ctx.comm = distributed::make_single_process_communicator();
  ctx.reducer = distributed::make_local_gradient_reducer();
  return ctx;
}

RunContext make_run_context(const RunConfig& cfg, bool data_parallel) {
  RunContext ctx = RunContext::single_process();
  distributed::DistEnv env;
  if (data_parallel) {
    const distributed::DistOverrides ov{cfg.dist.rank, cfg.dist.world_size, cfg.dist.local_rank,
                                        cfg.dist.master_addr, cfg.dist.master_port};
    env = distributed::read_dist_env(distributed::process_env(), ov);
    ctx.rank = env.rank;
    ctx.world_size = env.world_size;
    ctx.local_rank = env.local_rank;
    ctx.local_world_size = env.local_world_size;
  }
  ctx.device = resolve_device(cfg.train.device, ctx.local_rank);
  ctx.seed = static_cast<uint64_t>(cfg.train.seed);
  ctx.dropout_seed = generator_seed(ctx.seed, ctx.rank);
  ctx.data_seed = static_cast<uint64_t>(cfg.data.synthetic_seed);
  if (ctx.world_size > 1) {
    vr::log::set_rank(static_cast<int>(ctx.rank));
    distributed::DataParallelOptions o;
    o.backend = cfg.dist.backend;
    o.cuda = ctx.device.is_cuda();
    o.cuda_index = ctx.device.is_cuda() ? ctx.device.index() : 0;
    o.init_timeout_s = cfg.dist.init_timeout_s;
    o.timeout_s = cfg.dist.timeout_s;
    o.bucket_mb = cfg.dist.bucket_mb;
    o.overlap = cfg.dist.overlap;
    o.shard_optimizer = cfg.dist.shard_optimizer;
    o.zero_stage = cfg.dist.zero_stage;
    distributed::DataParallel dp = distributed::make_data_parallel(env, o);
    ctx.comm = std::move(dp.comm);
    ctx.reducer = std::move(dp.reducer);
  }
  return ctx;
}

uint64_t generator_seed(uint64_t seed, int64_t rank, int64_t step) {
  if (rank == 0) return seed;
  return seed + static_cast<uint64_t>(rank) * 1000003ULL + static_cast<uint64_t>(step) * 7919ULL;
}

std::string describe(const RunContext& ctx) {
  return fmt::format("rank {}/{} (local {}/{}), device {}, seed {}{}", ctx.rank, ctx.world_size, ctx.local_rank,
                     ctx.local_world_size, device_name(ctx.device), ctx.seed,
                     ctx.world_size > 1 ? fmt::format(" (dropout seed {} on this rank)", ctx.dropout_seed) : "");
}

}  // namespace vr::train
