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
// Packing: the record order of an epoch (a function of seed and epoch only) and the generator for the row
// shuffles, distinct from the unpacked sampler's stream.
uint64_t packing_rng(uint64_t seed, uint64_t epoch) { return seed ^ (0xA0761D6478BD642Full * (epoch + 1)) ^ 0x5D; }
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

  // Packing (opt.packing.enabled): merged length per record, the plan of the cached epoch, steps per epoch
  // (fixed by epoch 0's plan).
  std::vector<int64_t> lengths;
  std::shared_ptr<const PackPlan> plan;
  uint64_t plan_epoch = 0, plan_seed = 0;
  PackingStats plan0_stats;
  int64_t packed_steps = 0;
  std::atomic<int64_t> unpacked_samples{0};

  Impl(std::shared_ptr<Dataset> ds, SamplePreparer prep, CollateOptions c, LoaderOptions o, SampleLength length)
      : dataset(std::move(ds)),
        prepare(std::move(prep)),
        collate_opt(c),
        opt(o),
        sampler(dataset->size(), sampler_options(o),
                modality_lengths(*dataset, o.group_by_modality_length && !o.packing.enabled)) {
    state.seed = opt.seed;
    collate_opt.model_max_length = opt.model_max_length;
    if (opt.packing.enabled) init_packing(std::move(length));
  }

  void init_packing(SampleLength length) {
    PackingOptions& p = opt.packing;
    if (p.pack_length <= 0) p.pack_length = opt.model_max_length;
    VR_CHECK(p.pack_length <= opt.model_max_length,
             "data.pack_length ({}) must not exceed data.model_max_length ({}): the model truncates every row there",
             p.pack_length, opt.model_max_length);
    VR_CHECK(p.image_tokens > 0, "packing needs the image tokens per image (the model's image_seq_length)");
    if (!length) {
      length = [this](const Sample& s, int64_t index) {
        return merged_length(prepare(s, index).tokens.input_ids, opt.packing.image_tokens, opt.model_max_length);
      };
    }
    lengths.resize(dataset->size());
    for (int64_t i = 0; i < dataset->size(); ++i) {
      // A record that cannot be parsed packs as length 1 (a row slot); loading it later reports it as usual.
      try {
        lengths[i] = std::max<int64_t>(1, length(dataset->get(i), i));
      } catch (const std::exception&) {
        if (!dataset->skip_bad_records()) throw;
        lengths[i] = 1;
      }
    }
    plan0_stats = epoch_plan(0)->stats;
    const int64_t global = opt.batch_size * opt.world_size;
    const int64_t rows = plan0_stats.rows;
    packed_steps = opt.drop_last ? rows / global : (rows + global - 1) / global;
    VR_CHECK(packed_steps > 0, "drop_last: the packed epoch ({} rows) is smaller than one global batch ({} rows)", rows,
             global);
    unpacked_samples = 0;  // epoch 0's plan was made before the step count existed
  }

  std::shared_ptr<const PackPlan> epoch_plan(uint64_t epoch) {
    const uint64_t seed = state.seed;
    if (!plan || plan_epoch != epoch || plan_seed != seed) {
      uint64_t rng = seed ^ (0xD1B54A32D192ED03ull * (epoch + 1));
      std::vector<int64_t> order = random_permutation(dataset->size(), rng);  // the world-size-free order
      uint64_t row_rng = packing_rng(seed, epoch);
      plan = std::make_shared<const PackPlan>(
          plan_packs(order, lengths, opt.packing.pack_length, opt.packing.buffer, row_rng));
      plan_epoch = epoch;
      plan_seed = seed;
      // Rows past this epoch's steps (a plan longer than epoch 0's) are not trained this epoch: counted.
      const int64_t used = steps() * opt.batch_size * opt.world_size;
      int64_t left = 0;
      for (size_t r = static_cast<size_t>(used); r < plan->rows.size(); ++r) left += plan->rows[r].size();
      if (left > 0 && opt.rank == 0) unpacked_samples += left;
    }
    return plan;
  }

  int64_t steps() const { return opt.packing.enabled ? packed_steps : sampler.steps_per_epoch(); }

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
    for (int64_t attempt = 0; attempt < n; ++attempt)
      if (std::optional<PreparedSample> p = try_prepare(ord[(pos + attempt) % n])) return std::move(*p);
    VR_FAIL("{}: every record of the epoch is bad (data.skip_bad_records is on)", dataset->source());
  }

  // Record `index`, prepared; a bad record throws, or with skip_bad_records is reported and gives nothing.
  std::optional<PreparedSample> try_prepare(int64_t index) {
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
    return std::nullopt;
  }

  // The rows of this rank at `step`: global row (step * W + rank) * B + slot, wrapping around a short plan.
  // A bad record (skip_bad_records) is left out of its row: the row gets shorter, the plan stays as it was.
  Batch build_packed(const PackPlan& p, int64_t step) {
    std::vector<std::vector<PreparedSample>> rows;
    const int64_t R = static_cast<int64_t>(p.rows.size());
    for (int64_t slot = 0; slot < opt.batch_size; ++slot) {
      const auto& row = p.rows[sampler.position(step, slot) % R];
      std::vector<PreparedSample> kept;
      for (int64_t index : row)
        if (std::optional<PreparedSample> ps = try_prepare(index)) kept.push_back(std::move(*ps));
      VR_CHECK(!kept.empty(), "{}: every record of a packed row is bad", dataset->source());
      rows.push_back(std::move(kept));
    }
    return collate_packed(std::move(rows), collate_opt);
  }

  Batch build(const std::vector<int64_t>& ord, int64_t step) {
    std::vector<PreparedSample> batch;
    for (int64_t slot = 0; slot < opt.batch_size; ++slot) batch.push_back(load(ord, sampler.position(step, slot)));
    return collate(std::move(batch), collate_opt);
  }

  // One step's batch with whatever the epoch needs (order or plan), captured when the workers start.
  struct EpochData {
    std::shared_ptr<const std::vector<int64_t>> order;
    std::shared_ptr<const PackPlan> plan;
  };
  EpochData epoch_data() {
    EpochData d;
    if (opt.packing.enabled) d.plan = epoch_plan(state.epoch);
    else d.order = epoch_order();
    return d;
  }
  Batch build_step(const EpochData& d, int64_t step) {
    return d.plan ? build_packed(*d.plan, step) : build(*d.order, step);
  }

  void worker_loop(EpochData ord) {
    const int64_t steps = this->steps();
    const int64_t ahead = std::max<int64_t>(1, opt.prefetch);
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stopping || (next_step < steps && next_step < state.position + ahead); });
      if (stopping) return;
      const int64_t step = next_step++;
      lock.unlock();
      Result r;
      try {
        r.batch = build_step(ord, step);
      } catch (...) {
        r.error = std::current_exception();
      }
      lock.lock();
      ready[step] = std::move(r);
      cv.notify_all();
    }
  }

  void start_workers() {
    EpochData ord = epoch_data();
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
    if (state.position >= steps()) {
      stop_workers();
      std::lock_guard<std::mutex> lock(mu);
      state.epoch += 1;
      state.position = 0;
      return std::nullopt;
    }
    if (opt.num_workers <= 0) {
      Batch b = build_step(epoch_data(), state.position);
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
                       LoaderOptions opt, SampleLength length) {
  VR_CHECK(dataset, "DataLoader: no dataset");
  VR_CHECK(prepare, "DataLoader: no sample preparer");
  VR_CHECK(opt.model_max_length > 0, "model_max_length must be positive, got {}", opt.model_max_length);
  impl_ = std::make_unique<Impl>(std::move(dataset), std::move(prepare), collate, opt, std::move(length));
}

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, text::Tokenizer tok, image::ImageProcessor proc, image::AspectMode aspect,
                       std::string template_name, LoaderOptions opt)
    : DataLoader(std::move(dataset), make_sample_preparer(tok, proc, aspect, template_name, opt.model_max_length),
                 collate_options_for(tok, template_name, opt.model_max_length), opt,
                 opt.packing.enabled ? make_sample_length(tok, template_name, opt.model_max_length,
                                                          opt.packing.image_tokens)
                                     : SampleLength()) {}

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

int64_t DataLoader::batches_per_epoch() const { return impl_->steps(); }

LoaderStats DataLoader::stats() const {
  return {impl_->samples.load(), impl_->mismatched.load(), impl_->dataset->bad_record_count(),
          impl_->unpacked_samples.load()};
}

PackingStats DataLoader::packing_plan() const { return impl_->plan0_stats; }
bool DataLoader::packing() const { return impl_->opt.packing.enabled; }

}  // namespace vr::data
