// Live CPU tensor bytes through c10's memory-reporting hook (see memory_plan_meter.h).
#include "vr/train/memory_plan_meter.h"

#include <algorithm>
#include <mutex>

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/version.h>

namespace vr::train {

// The reporter c10's allocators call (CPU: ProfiledCPUMemoryReporter, on New and Delete when
// memoryProfilingEnabled() holds for the calling thread): alloc_size > 0 on allocation, < 0 on free.
struct TensorMemoryMeter::Counter : c10::MemoryReportingInfoBase {
  mutable std::mutex mutex;
  int64_t current = 0, peak = 0;

#if TORCH_VERSION_MAJOR >= 2  // total_allocated / total_reserved became size_t in LibTorch 2.x
  void reportMemoryUsage(void* /*ptr*/, int64_t alloc_size, size_t /*total_allocated*/, size_t /*total_reserved*/,
                         c10::Device device) override {
    add(alloc_size, device);
  }
#else
  void reportMemoryUsage(void* /*ptr*/, int64_t alloc_size, int64_t /*total_allocated*/,
                         int64_t /*total_reserved*/, c10::Device device) override {
    add(alloc_size, device);
  }
#endif
  bool memoryProfilingEnabled() const override { return true; }

  void add(int64_t bytes, c10::Device device) {
    if (!device.is_cpu()) return;
    std::lock_guard<std::mutex> lock(mutex);
    current += bytes;
    peak = std::max(peak, current);
  }
};

struct TensorMemoryMeter::Guard {
  explicit Guard(std::shared_ptr<c10::DebugInfoBase> info) : guard(c10::DebugInfoKind::PROFILER_STATE, std::move(info)) {}
  c10::DebugInfoGuard guard;
};

TensorMemoryMeter::TensorMemoryMeter()
    : counter_(std::make_shared<Counter>()), guard_(std::make_unique<Guard>(counter_)) {}

TensorMemoryMeter::~TensorMemoryMeter() = default;

int64_t TensorMemoryMeter::current() const {
  std::lock_guard<std::mutex> lock(counter_->mutex);
  return counter_->current;
}

int64_t TensorMemoryMeter::peak() const {
  std::lock_guard<std::mutex> lock(counter_->mutex);
  return counter_->peak;
}

void TensorMemoryMeter::mark(const std::string& label) {
  std::lock_guard<std::mutex> lock(counter_->mutex);
  phases_.push_back({label, counter_->current, counter_->peak});
  closed_peak_ = std::max(closed_peak_, counter_->peak);
  counter_->peak = counter_->current;
}

int64_t TensorMemoryMeter::overall_peak() const { return std::max(closed_peak_, peak()); }

}  // namespace vr::train
