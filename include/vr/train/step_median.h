// The median of a per-step figure over a run, the first (warm-up) step left out when there are at least 3: the
// rule run_summary.json's medians (train/run_figures.h) and `vrtrain compare`'s step time share.
// Defined in src/train/run_figures.cpp.
#pragma once
#include <optional>
#include <vector>

namespace vr::train {

// Empty when `values` is.
std::optional<double> median_after_warmup(std::vector<double> values);

}  // namespace vr::train
