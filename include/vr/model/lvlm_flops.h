// The FLOPs one training step of an Lvlm must execute (MFU's numerator), from the model's shapes and which of its
// parameters require gradients now: the formula of vr/model/flops.h with P, Pt, Ph and the lowest trained layer ℓ
// read from the model, attention over rows of the mean sample length, and the vision tower's forward.
// The trainer's per-step `mfu` (metrics.jsonl) and `vrtrain bench` both use it, so their figures agree.
#pragma once
#include <cstdint>

namespace vr::model {

class LvlmImpl;

// tokens: merged tokens (text + image slots, no padding) of the step on this rank; samples: the samples they
// belong to (attention is counted as samples rows of tokens / samples each); images: images on this rank.
double lvlm_step_model_flops(const LvlmImpl& model, int64_t tokens, int64_t samples, int64_t images);

}  // namespace vr::model
