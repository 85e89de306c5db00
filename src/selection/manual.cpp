// `manual`: exactly the layers listed in selection.layers (e.g. the paper's "1,5,9,13,19,23,27,31").
// Order in the config does not matter; the result is sorted. Out-of-range or repeated indices are errors.
// selection.fraction / selection.count are ignored: the list itself defines k.
#include <algorithm>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

class Manual : public LayerSelector {
 public:
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers;
    VR_CHECK(!cfg.layers.empty(),
             "selection.strategy 'manual' needs selection.layers, e.g. --set selection.layers=1,5,9,13,19,23,27,31");
    for (int64_t l : cfg.layers)
      VR_CHECK(l >= 0 && l < L, "selection.layers: layer {} is out of range; the model has layers 0..{}", l, L - 1);
    SelectionResult r;
    r.layers = cfg.layers;
    std::sort(r.layers.begin(), r.layers.end());
    auto dup = std::adjacent_find(r.layers.begin(), r.layers.end());
    VR_CHECK(dup == r.layers.end(), "selection.layers: layer {} is listed twice", *dup);
    r.rationale = fmt::format("the {} of {} layers listed in selection.layers", r.layers.size(), L);
    return r;
  }
};

SelectorRegistration registration_manual{"manual", "exactly the layers in selection.layers (e.g. [1,5,9,13,19,23,27,31])",
                         [] { return std::make_unique<Manual>(); }};

}  // namespace
}  // namespace vr::selection
