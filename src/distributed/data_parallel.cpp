// DataParallelSync: PyTorch-DDP-style bucketed gradient all-reduce over a c10d process group.
//
// Buckets: the trainable parameters in reverse registration order (the last layers' gradients arrive first in
// backward), cut into consecutive groups of <= dist.bucket_mb MiB of fp32 elements; a parameter larger than the
// cap gets a bucket of its own. Same names and shapes on every rank (checked in attach) → identical buckets.
// Each bucket owns one flat fp32 buffer on the model's device.
//
// Last micro-batch of a step: each parameter's gradient hook (run by autograd with the incoming gradient g, just
// before it is added to p.grad) writes  slot = p.grad + g  (or g)  into its bucket; when a bucket's last slot is
// written and every earlier bucket has been sent, the bucket's all-reduce (SUM) starts, so communication runs
// while backward computes the layers below. synchronize() fills the slots of parameters that got no gradient
// (their accumulated p.grad, else zeros — the same zeros on every rank, so nobody waits for a gradient that never
// comes), launches the remaining buckets in order, waits, and writes  p.grad = slot / W.
// Buckets are always launched in index order, so every rank issues the same sequence of collectives.
//
// ZeRO (shard_optimizer): a bucket of n elements gets a buffer of W·s (s = ceil(n / W), zero padding at the end);
// rank r owns part r = [r·s, (r+1)·s) of every bucket. The last micro-batch reduce-scatters each bucket into
// this rank's slice of grad_shard_ (NCCL), or all-reduces it and copies part r out (Gloo: LibTorch 1.13's
// ProcessGroupGloo throws "does not support reduce_scatter"; same bytes on the wire as plain data parallelism,
// only the optimizer state is partitioned then). After the optimizer's update, all_gather_parameters() gathers
// every rank's updated part into the bucket buffers and copies them into the parameters.
#include "vr/distributed/data_parallel.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "process_group.h"
#include "vr/core/error.h"
#include "vr/core/logging.h"
#include "vr/model/activation_checkpointing.h"

namespace vr::distributed {

namespace {

using clock_type = std::chrono::steady_clock;

struct Bucket {
  std::vector<size_t> params;    // indices into DataParallelSync::params_
  std::vector<int64_t> offsets;  // element offset of each param in flat
  at::Tensor flat;               // [numel] fp32 ([W * part] when sharded)
  int64_t numel = 0;             // gradient elements (without padding)
  int64_t part = 0;              // sharded: elements each rank owns (ceil(numel / W))
  int64_t shard_offset = 0;      // sharded: where this bucket's part starts in grad_shard_
  size_t waiting = 0;            // slots still to be written this step
  bool launched = false;
  Pending work;
};

class DataParallelSync final : public GradientSync {
 public:
  DataParallelSync(DistEnv env, DataParallelOptions opt, std::unique_ptr<Collectives> comm)
      : env_(std::move(env)), opt_(opt), comm_(std::move(comm)) {
    // Collectives before attach() (broadcast_text) run where the model will be: NCCL needs CUDA tensors.
    if (opt_.cuda) device_ = at::Device(at::kCUDA, static_cast<at::DeviceIndex>(env_.local_rank));
  }

  int64_t rank() const override { return env_.rank; }
  int64_t world_size() const override { return env_.world_size; }

  void attach(const std::vector<std::pair<std::string, at::Tensor>>& named) override {
    VR_CHECK(params_.empty(), "DataParallelSync::attach called twice");
    for (const auto& [name, p] : named) {
      names_.push_back(name);
      params_.push_back(p);
    }
    build_buckets();
    check_same_model(named);
    broadcast_weights();
    for (size_t i = 0; i < params_.size(); ++i)
      params_[i].register_hook([this, i](const at::Tensor& g) { on_gradient(i, g); });
  }

  void begin_micro_batch(bool is_last) override { armed_ = is_last && opt_.overlap; }

  void synchronize(const std::vector<at::Tensor>& params) override {
    VR_CHECK(params.size() == params_.size(), "synchronize: {} parameters, attach saw {}", params.size(),
             params_.size());
    torch::NoGradGuard no_grad;
    armed_ = false;
    // Parameters autograd never reached: their accumulated gradient, or zeros (identical on all ranks).
    for (auto& b : buckets_) {
      if (b.launched) continue;
      for (size_t k = 0; k < b.params.size(); ++k) {
        size_t i = b.params[k];
        if (ready_[i]) continue;
        at::Tensor s = slot(b, k);
        const at::Tensor& g = params_[i].grad();
        if (g.defined()) s.copy_(g.reshape_as(s));
        else s.zero_();
        ready_[i] = true;
      }
      b.waiting = 0;
    }
    launch_ready();
    const auto t0 = clock_type::now();
    for (size_t bi = 0; bi < buckets_.size(); ++bi)
      wait_for(buckets_[bi].work, fmt::format("all_reduce of gradient bucket {}/{} (step {})", bi + 1,
                                              buckets_.size(), step_ + 1));
    wait_s_ = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double inv_w = 1.0 / static_cast<double>(env_.world_size);
    for (auto& b : buckets_) {
      if (opt_.shard_optimizer) {
        if (!comm_->has_reduce_scatter())
          grad_shard_.narrow(0, b.shard_offset, b.part).copy_(b.flat.narrow(0, env_.rank * b.part, b.part));
        for (size_t i : b.params) params_[i].mutable_grad() = at::Tensor();  // the partition replaces them
      } else {
        for (size_t k = 0; k < b.params.size(); ++k) {
          at::Tensor& p = params_[b.params[k]];
          if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
          p.mutable_grad().copy_((slot(b, k) * inv_w).view_as(p));
        }
      }
      b.launched = false;
      b.waiting = b.params.size();
    }
    if (opt_.shard_optimizer) grad_shard_.mul_(inv_w);
    std::fill(ready_.begin(), ready_.end(), false);
    next_ = 0;
    ++step_;
  }

  std::vector<double> all_reduce_sum(std::vector<double> values) override {
    at::Tensor t = torch::tensor(values, torch::kDouble).to(device_);
    Pending w = comm_->all_reduce(t, Reduce::sum);
    wait_for(w, fmt::format("all_reduce of the step statistics (step {})", step_));
    t = t.cpu();
    for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
    return values;
  }

  std::string broadcast_text(const std::string& text, const std::string& what) override {
    torch::NoGradGuard no_grad;
    at::Tensor n = torch::tensor({static_cast<int64_t>(env_.rank == 0 ? text.size() : 0)}, torch::kLong).to(device_);
    Pending a = comm_->broadcast(n, 0);
    wait_for(a, "the broadcast of " + what + " from rank 0 (size)", true);
    const int64_t len = n.cpu().item<int64_t>();
    if (len == 0) return {};
    at::Tensor bytes = torch::zeros({len}, torch::kUInt8);
    if (env_.rank == 0) std::memcpy(bytes.data_ptr(), text.data(), static_cast<size_t>(len));
    bytes = bytes.to(device_);
    Pending b = comm_->broadcast(bytes, 0);
    wait_for(b, "the broadcast of " + what + " from rank 0", true);
    bytes = bytes.cpu();
    return std::string(static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(len));
  }

  int64_t verify_identical(const std::vector<std::pair<std::string, at::Tensor>>& named, bool bitwise,
                           const std::string& when) override {
    torch::NoGradGuard no_grad;
    std::vector<double> f;
    for (const auto& [name, p] : named) {
      if (bitwise) {
        at::Tensor c = p.detach().contiguous().cpu();
        const uint64_t h = std::hash<std::string_view>{}(
            std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
        f.push_back(static_cast<double>(h >> 32));  // two exact halves: doubles hold 53-bit integers
        f.push_back(static_cast<double>(h & 0xffffffffULL));
      } else {
        f.push_back(p.detach().sum(at::kDouble).item<double>());
        f.push_back(static_cast<double>(p.numel()));
      }
    }
    at::Tensor lo = torch::tensor(f, torch::kDouble).to(device_), hi = lo.clone();
    Pending a = comm_->all_reduce(lo, Reduce::min), b = comm_->all_reduce(hi, Reduce::max);
    wait_for(a, "the weight check (min) " + when, step_ == 0);
    wait_for(b, "the weight check (max) " + when, step_ == 0);
    at::Tensor diff = lo.ne(hi).cpu();
    for (int64_t i = 0; i < diff.numel(); ++i)
      VR_CHECK(!diff[i].item<bool>(), "rank {}: '{}' differs between ranks {} ({}): same model.path, config and "
                                      "selection on every rank?",
               env_.rank, named[static_cast<size_t>(i / 2)].first, when, bitwise ? "bytes" : "sum");
    return static_cast<int64_t>(named.size());
  }

  bool sharded() const override { return opt_.shard_optimizer; }
  ShardLayout shard_layout() const override { return layout_; }
  at::Tensor gradient_shard() override { return grad_shard_; }

  void all_gather_parameters(const at::Tensor& master) override {
    VR_CHECK(master.numel() == layout_.numel, "all_gather_parameters: partition of {} elements, expected {}",
             master.numel(), layout_.numel);
    torch::NoGradGuard no_grad;
    const at::Tensor m = master.to(torch::kFloat).contiguous();
    std::vector<Pending> work;
    for (auto& b : buckets_) work.push_back(comm_->all_gather(b.flat, m.narrow(0, b.shard_offset, b.part)));
    for (size_t bi = 0; bi < buckets_.size(); ++bi) {
      wait_for(work[bi], fmt::format("all_gather of updated weights, bucket {}/{} (step {})", bi + 1,
                                     buckets_.size(), step_));
      Bucket& b = buckets_[bi];
      for (size_t k = 0; k < b.params.size(); ++k) {
        at::Tensor& p = params_[b.params[k]];
        p.copy_(slot(b, k).view_as(p));
      }
    }
  }

  std::vector<std::pair<std::string, at::Tensor>> gather_shards(const at::Tensor& shard) override {
    VR_CHECK(shard.numel() == layout_.numel, "gather_shards: partition of {} elements, expected {}", shard.numel(),
             layout_.numel);
    torch::NoGradGuard no_grad;
    const at::Tensor s = shard.to(torch::kFloat).contiguous();
    std::vector<at::Tensor> full(params_.size());
    for (size_t bi = 0; bi < buckets_.size(); ++bi) {
      Bucket& b = buckets_[bi];
      Pending w = comm_->all_gather(b.flat, s.narrow(0, b.shard_offset, b.part));
      wait_for(w, fmt::format("all_gather of optimizer state for a checkpoint, bucket {}/{}", bi + 1,
                              buckets_.size()));
      if (env_.rank != 0) continue;
      for (size_t k = 0; k < b.params.size(); ++k)
        full[b.params[k]] = slot(b, k).view_as(params_[b.params[k]]).to(torch::kCPU, torch::kFloat, false, true);
    }
    std::vector<std::pair<std::string, at::Tensor>> out;
    if (env_.rank == 0)
      for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(names_[i], full[i]);
    return out;
  }

  int64_t bytes_last_step() const override { return bytes_; }
  double wait_seconds_last_step() const override { return wait_s_; }
  std::string describe() const override {
    return fmt::format("data parallel: {} ({}), rank {} of {} (local {} of {}, node {}), master {}:{}, {} buckets "
                       "of <= {} MiB, {} per step all-reduced (fp32)",
                       comm_->backend(), env_.source, env_.rank, env_.world_size, env_.local_rank,
                       env_.local_world_size, env_.node_rank, env_.master_addr, env_.master_port, buckets_.size(),
                       opt_.bucket_mb, fmt::format("{:.2f} MB", static_cast<double>(bytes_) / 1e6)) +
           (opt_.shard_optimizer
                ? fmt::format("; optimizer sharded (ZeRO-1/2): {} elements per rank, gradients {}, weights "
                              "all-gathered",
                              layout_.numel,
                              comm_->has_reduce_scatter() ? "reduce-scattered" : "all-reduced then sliced (gloo)")
                : std::string());
  }

 private:
  at::Tensor slot(Bucket& b, size_t k) {
    const at::Tensor& p = params_[b.params[k]];
    return b.flat.narrow(0, b.offsets[k], p.numel());
  }

  void build_buckets() {
    VR_CHECK(!params_.empty(), "data parallel: no trainable parameter to synchronise");
    device_ = params_.front().device();
    const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(opt_.bucket_mb * 1024 * 1024 / 4));
    where_.assign(params_.size(), {0, 0});
    ready_.assign(params_.size(), false);
    Bucket cur;
    int64_t n = 0;
    const int64_t w = env_.world_size;
    auto close = [&] {
      if (cur.params.empty()) return;
      cur.numel = n;
      int64_t len = n;
      if (opt_.shard_optimizer) {
        cur.part = (n + w - 1) / w;
        cur.shard_offset = layout_.numel;
        add_pieces(cur);
        layout_.numel += cur.part;
        len = cur.part * w;
      }
      cur.flat = torch::zeros({len}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
      cur.waiting = cur.params.size();
      buckets_.push_back(std::move(cur));
      cur = Bucket{};
      n = 0;
    };
    for (size_t r = params_.size(); r-- > 0;) {  // reverse registration order
      const int64_t numel = params_[r].numel();
      if (n > 0 && n + numel > cap) close();
      where_[r] = {buckets_.size(), cur.params.size()};
      cur.params.push_back(r);
      cur.offsets.push_back(n);
      n += numel;
      bytes_ += numel * 4;
    }
    close();
    if (opt_.shard_optimizer)
      grad_shard_ = torch::zeros({layout_.numel}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  }

  // This rank's part [r·s, (r+1)·s) of bucket b, cut at parameter boundaries.
  void add_pieces(const Bucket& b) {
    const int64_t lo = env_.rank * b.part, hi = std::min(lo + b.part, b.numel);
    for (size_t k = 0; k < b.params.size(); ++k) {
      const int64_t p0 = b.offsets[k], p1 = p0 + params_[b.params[k]].numel();
      const int64_t s0 = std::max(lo, p0), s1 = std::min(hi, p1);
      if (s0 >= s1) continue;
      layout_.pieces.push_back({names_[b.params[k]], s0 - p0, s1 - s0, b.shard_offset + (s0 - lo)});
    }
  }

  // Every rank must train the same tensors of the same model: names, shapes and the selected layers (in the
  // names), plus the values of the frozen tensors the caller fingerprints, are compared as min == max.
  void check_same_model(const std::vector<std::pair<std::string, at::Tensor>>& named) {
    std::vector<double> f;
    for (const auto& [name, p] : named) {
      f.push_back(static_cast<double>(std::hash<std::string>{}(name) % (1ULL << 50)));
      f.push_back(static_cast<double>(p.numel()));
    }
    at::Tensor lo = torch::tensor(f, torch::kDouble).to(device_), hi = lo.clone();
    Pending a = comm_->all_reduce(lo, Reduce::min), b = comm_->all_reduce(hi, Reduce::max);
    wait_for(a, "the start-up model check (min)", true);
    wait_for(b, "the start-up model check (max)", true);
    at::Tensor diff = lo.ne(hi).cpu();
    for (int64_t i = 0; i < diff.numel(); ++i)
      VR_CHECK(!diff[i].item<bool>(),
               "rank {}: the ranks train different tensors: '{}' differs in name or size on some rank (same "
               "config, same model and the same selected layers on every rank?)",
               env_.rank, names_[static_cast<size_t>(i / 2)]);
  }

  // Trainable weights (and LoRA initialisations) from rank 0, through the bucket buffers.
  void broadcast_weights() {
    torch::NoGradGuard no_grad;
    for (auto& b : buckets_) {
      for (size_t k = 0; k < b.params.size(); ++k) slot(b, k).copy_(params_[b.params[k]].reshape({-1}));
      Pending w = comm_->broadcast(b.flat, 0);
      wait_for(w, "the start-up broadcast of the weights from rank 0", true);
      for (size_t k = 0; k < b.params.size(); ++k) {
        at::Tensor& p = params_[b.params[k]];
        p.copy_(slot(b, k).view_as(p));
      }
      b.flat.zero_();
    }
  }

  void on_gradient(size_t i, const at::Tensor& g) {
    if (!armed_) return;  // non-final micro-batch: gradients just accumulate locally
    // LibTorch 2.x also runs this hook for the gradient a checkpoint's recompute captures, before the outer
    // backward hands the same gradient to .grad() (and to this hook) again: count it only then.
    if (vr::model::in_checkpoint_recompute()) return;
    torch::NoGradGuard no_grad;
    auto [bi, k] = where_[i];
    Bucket& b = buckets_[bi];
    at::Tensor s = slot(b, k);
    if (ready_[i]) {  // a second gradient for the same parameter in one backward
      VR_CHECK(!b.launched, "parameter '{}' received a gradient after its bucket was sent (used twice in the "
                            "graph?)", names_[i]);
      s.add_(g.reshape({-1}));
      return;
    }
    const at::Tensor& acc = params_[i].grad();
    if (acc.defined()) s.copy_((acc + g).reshape({-1}));
    else s.copy_(g.reshape({-1}));
    ready_[i] = true;
    if (--b.waiting == 0) launch_ready();
  }

  void launch_ready() {
    while (next_ < buckets_.size() && buckets_[next_].waiting == 0) {
      Bucket& b = buckets_[next_];
      if (opt_.shard_optimizer && comm_->has_reduce_scatter())
        b.work = comm_->reduce_scatter(b.flat, grad_shard_.narrow(0, b.shard_offset, b.part));
      else
        b.work = comm_->all_reduce(b.flat, Reduce::sum);
      b.launched = true;
      ++next_;
    }
  }

  // A failed or silent collective ends the process (no rank may wait forever, and c10d's threads could block a
  // normal exit): one line naming this rank, the collective, and the ranks whose heartbeat stopped.
  void wait_for(Pending& w, const std::string& what, bool startup = false) {
    const double limit_s = startup || step_ == 0 ? std::max(opt_.init_timeout_s, opt_.timeout_s) : opt_.timeout_s;
    const auto t0 = clock_type::now();
    try {
      w.wait(std::chrono::milliseconds(static_cast<int64_t>(limit_s * 1000)));
      return;
    } catch (const std::exception& e) {
      const double took = std::chrono::duration<double>(clock_type::now() - t0).count();
      std::string reason = e.what();
      if (auto nl = reason.find('\n'); nl != std::string::npos) reason = reason.substr(0, nl);
      const std::string suspects = silent_ranks();
      std::fprintf(stderr,
                   "[rank %lld] error: %s failed after %.1f s (%s timeout %.0f s): %s; %s\n",
                   static_cast<long long>(env_.rank), what.c_str(), took, comm_->backend().c_str(), limit_s,
                   reason.c_str(), suspects.c_str());
      std::fflush(stderr);
      std::fflush(stdout);
      std::_Exit(5);
    }
  }

  std::string silent_ranks() {
    std::vector<int64_t> before(static_cast<size_t>(env_.world_size));
    for (int64_t r = 0; r < env_.world_size; ++r) before[static_cast<size_t>(r)] = comm_->heartbeat_of(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    std::vector<std::string> dead;
    for (int64_t r = 0; r < env_.world_size; ++r) {
      if (r == env_.rank) continue;
      int64_t now = comm_->heartbeat_of(r);
      if (now < 0) dead.push_back(fmt::format("rank {} (the store it hosts is unreachable)", r));
      else if (now == before[static_cast<size_t>(r)]) dead.push_back(fmt::format("rank {}", r));
    }
    if (dead.empty()) return "every rank's heartbeat is alive (a rank may be stuck in a different collective)";
    std::string s = "failed or silent: ";
    for (size_t i = 0; i < dead.size(); ++i) s += (i ? ", " : "") + dead[i];
    return s;
  }

  DistEnv env_;
  DataParallelOptions opt_;
  std::unique_ptr<Collectives> comm_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_;
  std::vector<std::pair<size_t, size_t>> where_;  // param -> (bucket, slot)
  std::vector<bool> ready_;
  std::vector<Bucket> buckets_;
  ShardLayout layout_;     // sharded: this rank's partition
  at::Tensor grad_shard_;  // sharded: [layout_.numel] fp32 averaged gradient of the partition
  at::Device device_{at::kCPU};
  size_t next_ = 0;
  bool armed_ = false;
  int64_t step_ = 0;
  int64_t bytes_ = 0;
  double wait_s_ = 0;
};

}  // namespace

bool nccl_compiled() { return nccl_available_in_build(); }

std::unique_ptr<GradientSync> make_gradient_sync(const DistEnv& env, const DataParallelOptions& opt) {
  if (env.world_size == 1) return make_single_process_sync();
  std::string backend = opt.backend;
  if (backend == "auto") backend = opt.cuda ? "nccl" : "gloo";
  VR_CHECK(opt.timeout_s > 0 && opt.init_timeout_s > 0, "dist.timeout_s and dist.init_timeout_s must be > 0");
  VR_CHECK(opt.bucket_mb > 0, "dist.bucket_mb must be > 0, got {}", opt.bucket_mb);
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  auto comm = connect_collectives(env, backend, ms(opt.init_timeout_s), ms(opt.timeout_s));
  return std::make_unique<DataParallelSync>(env, opt, std::move(comm));
}

}  // namespace vr::distributed
