// Tiny random LLaVA-family models shared by the tests of one process: written once per (family, seed) under
// the temp dir on first use (`vrtrain make-tiny` defaults otherwise), then reused.
#pragma once
#include <cstdint>
#include <string>

namespace vr::test {

// The directory of the tiny model of `family` (llava | bunny) made with `seed`.
const std::string& shared_tiny_model(const std::string& family, uint64_t seed);

}  // namespace vr::test
