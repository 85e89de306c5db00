#include "support/tiny_models.h"

#include <map>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "support/fixtures.h"
#include "vr/model/tiny_model.h"

namespace vr::test {

const std::string& shared_tiny_model(const std::string& family, uint64_t seed) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, uint64_t>, std::string> made;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(family, seed);
  auto it = made.find(key);
  if (it == made.end()) {
    const std::string dir = temp_dir(fmt::format("tiny_{}_{}", family, seed)) + "/tiny";
    vr::model::TinyModelOptions o;
    o.family = family;
    o.seed = seed;
    vr::model::make_tiny_model(dir, o);
    it = made.emplace(key, dir).first;
  }
  return it->second;
}

}  // namespace vr::test
