// Where tensors run: the one place that asks LibTorch about CUDA devices and decides. Everything else takes a
// c10::Device from here (the run context carries the run's device).
#pragma once
#include <cstdint>
#include <string>

#include <c10/core/Device.h>

namespace vr {

// "auto": cuda:<local_rank> when this build has CUDA and a device is visible, else cpu.
// "cpu"; "cuda": cuda:<local_rank>; "cuda:N". Asking for CUDA where there is none (a CPU-only LibTorch or no
// visible device) is a vr::Error that says so: a run meant for a GPU never falls back to the CPU silently.
c10::Device resolve_device(const std::string& spec, int64_t local_rank = 0);

// The CUDA device a local rank uses when `visible` devices are visible to its process: its local rank when there
// are enough; 0 when exactly one is visible (schedulers that give each task its own GPU, e.g. Slurm's
// --gpus-per-task=1, show every task its GPU as device 0); otherwise a vr::Error naming both numbers.
int64_t cuda_index_for_local_rank(int64_t local_rank, int64_t visible);

// resolve_device("auto"): the device commands without a run config use.
c10::Device default_device();

// Waits for the work queued on `device` (no-op on the CPU): for timing.
void synchronize_device(const c10::Device& device);

// "cpu" / "cuda:0".
std::string device_name(const c10::Device& device);

}  // namespace vr
