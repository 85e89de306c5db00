// The data loader of a run: tokenizer and image processor from model.path, dataset from data.*, this rank's
// share of the global order (see data/sampler.h), shuffled with train.seed.
#pragma once
#include <cstdint>
#include <memory>

namespace vr::data {
class DataLoader;
}

namespace vr::train {

struct RunConfig;
struct RunContext;

// `batch_size` overrides train.batch_size when > 0 (calibration runs use 1).
std::unique_ptr<data::DataLoader> make_run_loader(const RunConfig& cfg, const RunContext& ctx, int64_t batch_size = 0);

}  // namespace vr::train
