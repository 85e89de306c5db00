#include "support/fixtures.h"

#include "vr/core/error.h"
#include "vr/core/safetensors.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <unistd.h>

namespace vr::test {

std::string fixtures_dir() {
  if (const char* env = std::getenv("VR_FIXTURES")) return env;
  return VR_FIXTURES_DIR_DEFAULT;
}

bool have_fixture(const std::string& sub) {
  return std::filesystem::exists(std::filesystem::path(fixtures_dir()) / sub);
}

std::string temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             fmt::format("vr_test_{}_{}_{}", tag, static_cast<long>(getpid()), counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

::testing::AssertionResult all_close(const at::Tensor& got_in, const at::Tensor& exp_in, double atol, double rtol,
                                     const std::string& name) {
  if (got_in.sizes() != exp_in.sizes())
    return ::testing::AssertionFailure() << name << ": shape " << got_in.sizes() << " != expected " << exp_in.sizes();
  auto got = got_in.detach().to(at::kDouble).contiguous();
  auto exp = exp_in.detach().to(at::kDouble).contiguous();
  auto diff = (got - exp).abs();
  auto excess = diff - (atol + rtol * exp.abs());
  int64_t worst = excess.flatten().argmax().item<int64_t>();
  double worst_excess = excess.flatten()[worst].item<double>();
  double max_diff = diff.numel() ? diff.max().item<double>() : 0.0;
  if (worst_excess <= 0 && !got.isnan().any().item<bool>()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << fmt::format(
             "{}: flat index {} got {:.8g} expected {:.8g} (max |diff| {:.3g}, atol {:g}, rtol {:g})", name, worst,
             got.flatten()[worst].item<double>(), exp.flatten()[worst].item<double>(), max_diff, atol, rtol);
}

std::vector<std::string> bound_keys(vr::Bindable& config) {
  struct Recorder : vr::ConfigBinder {
    std::vector<std::string> keys;
    void field(const std::string& p, bool&, const std::string&) override { keys.push_back(p); }
    void field(const std::string& p, int64_t&, const std::string&) override { keys.push_back(p); }
    void field(const std::string& p, double&, const std::string&) override { keys.push_back(p); }
    void field(const std::string& p, std::string&, const std::string&) override { keys.push_back(p); }
    void field(const std::string& p, std::vector<int64_t>&, const std::string&) override { keys.push_back(p); }
    void field(const std::string& p, std::vector<std::string>&, const std::string&) override { keys.push_back(p); }
    void choice(const std::string& p, std::string&, const std::vector<std::string>&, const std::string&) override {
      keys.push_back(p);
    }
  } recorder;
  config.bind(recorder);
  return recorder.keys;
}

void expect_generation_matches(const vr::model::GenerateResult& r, const std::map<std::string, at::Tensor>& ex,
                               size_t layers, const std::string& name) {
  EXPECT_TRUE(at::equal(r.sequences, ex.at("sequences"))) << r.sequences;
  EXPECT_TRUE(at::equal(r.generated_ids, ex.at("generated_ids")));
  EXPECT_TRUE(at::equal(r.unfinished, ex.at("unfinished")));
  EXPECT_TRUE(model_close(r.step_logits, ex.at("step_logits"), "step_logits"));
  const at::Tensor chosen = r.step_logits.gather(2, r.generated_ids.t().unsqueeze(2)).squeeze(2).t();  // [B,n]
  EXPECT_TRUE(model_close(chosen, ex.at("chosen_logits"), "chosen_logits"));
  ASSERT_EQ(r.cache.layers.size(), layers);
  for (size_t i = 0; i < layers; ++i) {
    const std::string p = "past_key_values." + std::to_string(i);
    EXPECT_TRUE(model_close(r.cache.layers[i].key, ex.at(p + ".key"), p + ".key"));
    EXPECT_TRUE(model_close(r.cache.layers[i].value, ex.at(p + ".value"), p + ".value"));
  }
  std::printf("[measured] generate %s: step_logits max|diff| %.3g\n", name.c_str(),
              (r.step_logits - ex.at("step_logits")).abs().max().item<double>());
}

vr::model::GenerateOptions fixture_greedy_options(const std::map<std::string, at::Tensor>& ex, int64_t max_new_tokens) {
  vr::model::GenerateOptions opt;
  opt.max_new_tokens = max_new_tokens;
  opt.eos_token_ids = {ex.at("eos_token_id").item<int64_t>()};
  opt.pad_token_id = ex.at("pad_token_id").item<int64_t>();
  return opt;
}

::testing::AssertionResult model_close(const at::Tensor& got, const at::Tensor& exp, const std::string& name) {
  return all_close(got, exp, kModelAtol, kModelRtol, name);
}

std::map<std::string, at::Tensor> read_fixture_tensors(const std::string& rel) {
  return vr::load_safetensors(fixtures_dir() + "/" + rel);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const vr::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace vr::test
