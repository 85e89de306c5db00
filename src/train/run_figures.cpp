#include "vr/train/run_figures.h"

#include <algorithm>

#include "vr/train/metrics.h"
#include "vr/train/step_median.h"

namespace vr::train {

namespace {

void keep_max(std::optional<int64_t>& acc, const std::optional<int64_t>& v) {
  if (v) acc = acc ? std::max(*acc, *v) : *v;
}

template <typename T>
void put(nlohmann::json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <typename T>
std::optional<T> get(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

}  // namespace

std::optional<double> median_after_warmup(std::vector<double> v) {
  if (v.size() >= 3) v.erase(v.begin());
  if (v.empty()) return std::nullopt;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

void RunFigures::add_to_json(nlohmann::json& j) const {
  put(j, "gpu_peak_allocated_bytes_max", gpu_peak_allocated_bytes_max);
  put(j, "gpu_peak_reserved_bytes_max", gpu_peak_reserved_bytes_max);
  put(j, "mfu_median", mfu_median);
  put(j, "tokens_per_s_per_rank_median", tokens_per_s_per_rank_median);
}

RunFigures RunFigures::from_json(const nlohmann::json& j) {
  RunFigures f;
  f.gpu_peak_allocated_bytes_max = get<int64_t>(j, "gpu_peak_allocated_bytes_max");
  f.gpu_peak_reserved_bytes_max = get<int64_t>(j, "gpu_peak_reserved_bytes_max");
  f.mfu_median = get<double>(j, "mfu_median");
  f.tokens_per_s_per_rank_median = get<double>(j, "tokens_per_s_per_rank_median");
  return f;
}

void RunFigureLog::add(const StepMetrics& m) {
  keep_max(allocated_max_, m.gpu_peak_allocated_bytes);
  keep_max(reserved_max_, m.gpu_peak_reserved_bytes);
  if (m.mfu) mfu_.push_back(*m.mfu);
  if (m.step_time_s > 0) tokens_per_s_per_rank_.push_back(m.tokens_per_s_per_rank());
}

void RunFigureLog::add_line(const nlohmann::json& line) {
  keep_max(allocated_max_, get<int64_t>(line, "gpu_peak_allocated_bytes"));
  keep_max(reserved_max_, get<int64_t>(line, "gpu_peak_reserved_bytes"));
  if (const auto mfu = get<double>(line, "mfu")) mfu_.push_back(*mfu);
  if (const auto rate = get<double>(line, "tokens_per_s_per_rank")) tokens_per_s_per_rank_.push_back(*rate);
}

RunFigures RunFigureLog::figures() const {
  return {allocated_max_, reserved_max_, median_after_warmup(mfu_), median_after_warmup(tokens_per_s_per_rank_)};
}

}  // namespace vr::train
