#include "vr/dist/gradient_sync.h"

namespace vr::dist {

std::unique_ptr<GradientSync> make_single_process_sync() { return std::make_unique<SingleProcessSync>(); }

}  // namespace vr::dist
