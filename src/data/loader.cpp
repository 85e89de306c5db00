#include "vr/data/loader.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "vr/core/error.h"
#include "vr/data/sampler.h"

namespace vr::data {

std::string LoaderState::to_json() const {
  return nlohmann::json{{"epoch", epoch}, {"position", position}, {"seed", seed}}.dump();
}

LoaderState LoaderState::from_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  VR_CHECK(j.is_object(), "loader state: not a JSON object: '{}'", text);
  LoaderState s;
  try {
    s.epoch = j.at("epoch").get<uint64_t>();
    s.position = j.at("position").get<int64_t>();
    s.seed = j.at("seed").get<uint64_t>();
  } catch (const std::exception& e) {
    VR_FAIL("loader state '{}': {}", text, e.what());
  }
  return s;
}

namespace {
SamplerOptions sampler_options(const LoaderOptions& o) {
  return {o.batch_size, o.rank, o.world_size, o.shuffle, o.group_by_modality_length, o.drop_last};
}
std::vector<int64_t> modality_lengths(const Dataset& ds, bool needed) {
  std::vector<int64_t> lengths;
  if (!needed) return lengths;
  lengths.resize(ds.size());
  for (int64_t i = 0; i < ds.size(); ++i) lengths[i] = ds.modality_length(i);
  return lengths;
}
}  // namespace

struct DataLoader::Impl {
  std::shared_ptr<Dataset> dataset;
  SamplePreparer prepare;
  CollateOptions collate_opt;
  LoaderOptions opt;
  BatchSampler sampler;
  LoaderState state;

  // Epoch order cache, keyed by (epoch, seed).
  std::shared_ptr<const std::vector<int64_t>> order;
  uint64_t order_epoch = 0, order_seed = 0;

  struct Result {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread> workers;
  bool stopping = false;
  int64_t next_step = 0;  // next step a worker will build
  std::map<int64_t, Result> ready;

  std::atomic<int64_t> samples{0}, mismatched{0};

  Impl(std::shared_ptr<Dataset> ds, SamplePreparer prep, CollateOptions c, LoaderOptions o)
      : dataset(std::move(ds)),
        prepare(std::move(prep)),
        collate_opt(c),
        opt(o),
        sampler(dataset->size(), sampler_options(o), modality_lengths(*dataset, o.group_by_modality_length)) {
    state.seed = opt.seed;
    collate_opt.model_max_length = opt.model_max_length;
  }

  std::shared_ptr<const std::vector<int64_t>> epoch_order() {
    if (!order || order_epoch != state.epoch || order_seed != state.seed) {
      order = std::make_shared<const std::vector<int64_t>>(sampler.epoch_order(state.seed, state.epoch));
      order_epoch = state.epoch;
      order_seed = state.seed;
    }
    return order;
  }

  // The record at `pos` of the epoch order; a bad one is (with skip_bad_records) replaced by the next good
  // record in the order, so the result depends only on the data.
  PreparedSample load(const std::vector<int64_t>& ord, int64_t pos) {
    const int64_t n = static_cast<int64_t>(ord.size());
    for (int64_t attempt = 0; attempt < n; ++attempt) {
      const int64_t index = ord[(pos + attempt) % n];
      std::string message;
      try {
        Sample s = dataset->get(index);
        try {
          PreparedSample p = prepare(s, index);
          samples++;
          if (p.tokens.mismatch) mismatched++;
          return p;
        } catch (const std::exception& e) {
          message = record_error(dataset->source(), index, s.id, e.what());
        }
      } catch (const std::exception& e) {
        message = e.what();
      }
      if (!dataset->skip_bad_records()) throw Error(message);
      dataset->report_bad_record(index, message);
    }
    VR_FAIL("{}: every record of the epoch is bad (data.skip_bad_records is on)", dataset->source());
  }

  Batch build(const std::vector<int64_t>& ord, int64_t step) {
    std::vector<PreparedSample> batch;
    for (int64_t slot = 0; slot < opt.batch_size; ++slot) batch.push_back(load(ord, sampler.position(step, slot)));
    return collate(std::move(batch), collate_opt);
  }

  void worker_loop(std::shared_ptr<const std::vector<int64_t>> ord) {
    const int64_t steps = sampler.steps_per_epoch();
    const int64_t ahead = std::max<int64_t>(1, opt.prefetch);
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stopping || (next_step < steps && next_step < state.position + ahead); });
      if (stopping) return;
      const int64_t step = next_step++;
      lock.unlock();
      Result r;
      try {
        r.batch = build(*ord, step);
      } catch (...) {
        r.error = std::current_exception();
      }
      lock.lock();
      ready[step] = std::move(r);
      cv.notify_all();
    }
  }

  void start_workers() {
    auto ord = epoch_order();
    next_step = state.position;
    stopping = false;
    for (int64_t w = 0; w < opt.num_workers; ++w) workers.emplace_back([this, ord] { worker_loop(ord); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    ready.clear();
    stopping = false;
  }

  std::optional<Batch> next() {
    if (state.position >= sampler.steps_per_epoch()) {
      stop_workers();
      std::lock_guard<std::mutex> lock(mu);
      state.epoch += 1;
      state.position = 0;
      return std::nullopt;
    }
    if (opt.num_workers <= 0) {
      auto ord = epoch_order();
      Batch b = build(*ord, state.position);
      state.position += 1;
      return b;
    }
    if (workers.empty()) start_workers();
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready.count(state.position) > 0; });
    Result r = std::move(ready[state.position]);
    ready.erase(state.position);
    state.position += 1;
    cv.notify_all();
    lock.unlock();
    if (r.error) std::rethrow_exception(r.error);
    return std::move(r.batch);
  }
};

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, SamplePreparer prepare, CollateOptions collate,
                       LoaderOptions opt) {
  VR_CHECK(dataset, "DataLoader: no dataset");
  VR_CHECK(prepare, "DataLoader: no sample preparer");
  VR_CHECK(opt.model_max_length > 0, "model_max_length must be positive, got {}", opt.model_max_length);
  impl_ = std::make_unique<Impl>(std::move(dataset), std::move(prepare), collate, opt);
}

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, text::Tokenizer tok, image::ImageProcessor proc, image::AspectMode aspect,
                       std::string template_name, LoaderOptions opt)
    : DataLoader(std::move(dataset), make_sample_preparer(tok, proc, aspect, template_name, opt.model_max_length),
                 collate_options_for(tok, template_name, opt.model_max_length), opt) {}

DataLoader::~DataLoader() {
  if (impl_) impl_->stop_workers();
}

std::optional<Batch> DataLoader::next() { return impl_->next(); }

LoaderState DataLoader::state() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->state;
}

void DataLoader::restore(const LoaderState& s) {
  VR_CHECK(s.position >= 0 && s.position <= batches_per_epoch(),
           "loader state: position {} out of range [0, {}] (batches per epoch changed?)", s.position,
           batches_per_epoch());
  impl_->stop_workers();
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->state = s;
}

int64_t DataLoader::batches_per_epoch() const { return impl_->sampler.steps_per_epoch(); }

LoaderStats DataLoader::stats() const {
  return {impl_->samples.load(), impl_->mismatched.load(), impl_->dataset->bad_record_count()};
}

}  // namespace vr::data
