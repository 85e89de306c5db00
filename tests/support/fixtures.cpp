#include "support/fixtures.h"

#include "vr/core/error.h"
#include "vr/core/safetensors.h"

#include <atomic>
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
