// Test helpers: where the golden fixtures are, and tensor comparison with stated tolerances.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "vr/core/config.h"
#include "vr/model/generate.h"

namespace vr::test {

// ../shared/fixtures by default (set at configure time with -DVR_FIXTURES_DIR), or $VR_FIXTURES.
std::string fixtures_dir();
// True when fixtures_dir()/sub exists.
bool have_fixture(const std::string& sub);
// A fresh empty directory under the system temp dir, unique per call.
std::string temp_dir(const std::string& tag);
// Every key `config` binds (ConfigBinder::field / choice), in binding order: the public contract of run configs
// and `--set`, read without parsing YAML.
std::vector<std::string> bound_keys(vr::Bindable& config);
// Greedy generation against a generation fixture's expected tensors: sequences, generated ids, unfinished rows,
// per-step logits and the chosen tokens' logits, and the KV cache of every layer (`layers` of them), within the
// model tolerances; prints the largest step-logit difference as "[measured] generate <name>".
void expect_generation_matches(const vr::model::GenerateResult& r, const std::map<std::string, at::Tensor>& ex,
                               size_t layers, const std::string& name);
// The greedy options a generation fixture was recorded with: its eos and pad ids, at most max_new_tokens new ids.
vr::model::GenerateOptions fixture_greedy_options(const std::map<std::string, at::Tensor>& ex, int64_t max_new_tokens);
// The tensors of fixtures_dir()/rel (a .safetensors file), by name.
std::map<std::string, at::Tensor> read_fixture_tensors(const std::string& rel);
// The message of the vr::Error that f throws; "" when it throws none.
std::string error_of(const std::function<void()>& f);

// Elementwise |got - exp| <= atol + rtol*|exp| (the fixture README's rule). On failure the message
// names the tensor, the worst index, both values and the max abs difference.
::testing::AssertionResult all_close(const at::Tensor& got, const at::Tensor& exp, double atol, double rtol,
                                     const std::string& name);

// Tolerance classes of shared/fixtures/README.md.
constexpr double kModelAtol = 1e-4, kModelRtol = 1e-4;
// all_close in the model_fp32 class (kModelAtol, kModelRtol): fp32 model outputs on the CPU against HF's.
::testing::AssertionResult model_close(const at::Tensor& got, const at::Tensor& exp, const std::string& name);

}  // namespace vr::test

// Skips the current test with a clear message when a fixture folder is missing.
#define VR_REQUIRE_FIXTURE(sub)                                                                  \
  do {                                                                                           \
    if (!::vr::test::have_fixture(sub))                                                          \
      GTEST_SKIP() << "fixture '" << (sub) << "' not found under " << ::vr::test::fixtures_dir() \
                   << " (configure with -DVR_FIXTURES_DIR=... or set VR_FIXTURES)";              \
  } while (0)
