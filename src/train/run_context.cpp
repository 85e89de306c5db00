#include "vr/train/run_context.h"

#include <fmt/format.h>

#include "vr/core/device.h"
#include "vr/dist/gradient_sync.h"
#include "vr/train/run_config.h"

namespace vr::train {

RunContext RunContext::single_process() {
  RunContext ctx;
  ctx.sync = dist::make_single_process_sync();
  return ctx;
}

RunContext make_run_context(const RunConfig& cfg) {
  RunContext ctx = RunContext::single_process();
  ctx.device = resolve_device(cfg.train.device, ctx.local_rank);
  ctx.seed = static_cast<uint64_t>(cfg.train.seed);
  ctx.data_seed = static_cast<uint64_t>(cfg.data.synthetic_seed);
  return ctx;
}

std::string describe(const RunContext& ctx) {
  return fmt::format("rank {}/{} (local {}/{}), device {}, seed {}", ctx.rank, ctx.world_size, ctx.local_rank,
                     ctx.local_world_size, device_name(ctx.device), ctx.seed);
}

}  // namespace vr::train
