// A Llama with random weights at Hugging Face-like scales (norm weights ~1 ± 0.1, matrices ~N(0, 1/fan_in)), so
// activations are not tiny, like the fixtures' generator. Deterministic in `seed` (seeds torch's global RNG).
#pragma once
#include <cstdint>

#include "vr/model/llama.h"

namespace vr::test {

vr::model::LlamaForCausalLM random_llama(const vr::model::LlamaConfig& config, uint64_t seed);

}  // namespace vr::test
