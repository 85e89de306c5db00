// Shared by the CLIP and SigLIP conformance tests: a bare vision tower against its HF fixture.
#pragma once
#include <cstdint>
#include <string>

namespace vr::test {

// Loads fixtures/<fixture> as a vision tower and checks embeddings, every hidden state, last_hidden_state and
// pooler_output against expected.safetensors (tolerance class model_fp32, 1e-4), and the parameter count.
void expect_vision_tower_matches_fixture(const std::string& fixture, int64_t num_params);

}  // namespace vr::test
