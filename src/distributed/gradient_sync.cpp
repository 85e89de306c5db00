#include "vr/distributed/gradient_sync.h"

namespace vr::distributed {

std::unique_ptr<GradientSync> make_single_process_sync() { return std::make_unique<SingleProcessSync>(); }

}  // namespace vr::distributed
