// The measured side of the memory plan (memory_plan.h): bytes of live CPU tensors, counted exactly as LibTorch's
// CPU allocator hands them out. While a meter exists, the allocator reports every allocation and free made on
// this thread (and on threads that inherit its thread-local state: autograd, at::parallel_for) to it, through
// c10's memory-reporting hook (c10::MemoryReportingInfoBase, the one the profiler's profile_memory uses).
// What it counts is what a CUDA caching allocator's memory_allocated() counts on a GPU: tensor storages, no
// allocator slack, no library or heap overhead (unlike the process RSS, which adds glibc's retained heap).
// Allocations made before the meter existed are not counted, and neither are their frees.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vr::train {

class TensorMemoryMeter {
 public:
  TensorMemoryMeter();   // starts counting on the calling thread
  ~TensorMemoryMeter();  // stops
  TensorMemoryMeter(const TensorMemoryMeter&) = delete;
  TensorMemoryMeter& operator=(const TensorMemoryMeter&) = delete;

  int64_t current() const;  // live tensor bytes allocated since the meter started
  int64_t peak() const;     // the largest current() so far (or since the last mark)

  // Closes a phase: records (label, current at the mark, peak since the previous mark) and restarts the peak.
  struct Phase {
    std::string label;
    int64_t at_end = 0, peak = 0;
  };
  void mark(const std::string& label);
  const std::vector<Phase>& phases() const { return phases_; }
  int64_t overall_peak() const;  // the largest peak over every phase and the open one

 private:
  struct Counter;
  std::shared_ptr<Counter> counter_;
  struct Guard;
  std::unique_ptr<Guard> guard_;
  std::vector<Phase> phases_;
  int64_t closed_peak_ = 0;
};

}  // namespace vr::train
