// `consecutive`: one contiguous block of k layers at the bottom, middle or top of the stack (SPEC §6.1).
//   first  = {0 .. k−1}
//   middle = {s .. s+k−1} with s = floor((L − k) / 2)   (L = 32, k = 8: {12 .. 19})
//   last   = {L−k .. L−1}
#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/selection/selection.h"

namespace vr::selection {
namespace {

class Consecutive : public LayerSelector {
 public:
  SelectionResult select(const SelectionConfig& cfg, SelectionContext& ctx) override {
    const int64_t L = ctx.num_layers, k = cfg.resolve_count(L);
    int64_t start = 0;
    if (cfg.position == "first")
      start = 0;
    else if (cfg.position == "middle")
      start = (L - k) / 2;
    else if (cfg.position == "last")
      start = L - k;
    else
      VR_FAIL("selection.position: expected first, middle or last, got '{}'", cfg.position);
    SelectionResult r;
    for (int64_t l = start; l < start + k; ++l) r.layers.push_back(l);
    r.rationale = fmt::format("a block of {} consecutive layers at the {} of {} ({}..{})", k,
                              cfg.position == "first" ? "bottom" : cfg.position == "last" ? "top" : "middle", L,
                              start, start + k - 1);
    return r;
  }
};

SelectorRegistration registration_consecutive{"consecutive", "a contiguous block of k layers (selection.position: first|middle|last)",
                         [] { return std::make_unique<Consecutive>(); }};

}  // namespace
}  // namespace vr::selection
