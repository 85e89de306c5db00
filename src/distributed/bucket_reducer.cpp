// BucketReducer: PyTorch-DDP-style bucketed gradient all-reduce over the run's GroupCommunicator.
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
// A gradient a checkpoint's recompute captures is not counted: LibTorch 2.x runs the hook for it too, and again
// when the outer backward accumulates it (vr/model/activation_checkpointing.h).
//
// ZeRO (shard_optimizer): a bucket of n elements gets a buffer of W·s (s = ceil(n / W), zero padding at the end);
// rank r owns part r = [r·s, (r+1)·s) of every bucket. A reducing micro-batch (stage 2: every one; stage 1: the
// last) reduce-scatters each bucket into this rank's slice of grad_shard_ (NCCL, flat collective; into a
// part-sized temporary that is then added when an earlier micro-batch already wrote the slice), or all-reduces it
// and adds part r in (Gloo: LibTorch 1.13's ProcessGroupGloo throws "does not support reduce_scatter"; same bytes
// on the wire as plain data parallelism, only the optimizer state and the gradients are partitioned then).
// Gradient memory stays at a few buckets: a buffer is made at its bucket's first gradient and freed when the
// bucket is retired (waited for, its part added into grad_shard_); once more than kMaxBucketsInFlight buckets are in
// flight the hook retires the oldest before backward goes on. A parameter's full-size p.grad is freed as soon as
// its bucket is sent (its sum is in the buffer). Stage 2 therefore never holds a full-size gradient beyond its
// bucket, and accumulates over micro-batches in fp32 in the partition (4N/W bytes). After the optimizer's update,
// all_gather_parameters() gathers every rank's updated part into one bucket buffer at a time and copies it into
// the parameters.
#include <chrono>

#include <fmt/format.h>
#include <torch/torch.h>

#include "group_communicator.h"
#include "vr/core/error.h"
#include "vr/model/activation_checkpointing.h"

namespace vr::distributed {

namespace {

using clock_type = std::chrono::steady_clock;

struct Bucket {
  std::vector<size_t> params;    // indices into BucketReducer::params_
  std::vector<int64_t> offsets;  // element offset of each param in flat
  at::Tensor flat;               // [numel] fp32 ([W * part] when sharded; undefined between steps then)
  at::Tensor recv;               // sharded, NCCL: this micro-batch's reduced part when the slice already holds one
  int64_t numel = 0;             // gradient elements (without padding)
  int64_t part = 0;              // sharded: elements each rank owns (ceil(numel / W))
  int64_t shard_offset = 0;      // sharded: where this bucket's part starts in grad_shard_
  size_t waiting = 0;            // slots still to be written this step
  bool launched = false;
  Pending work;

  int64_t buffer_numel(int64_t world, bool sharded) const { return sharded ? part * world : numel; }
};

class BucketReducer final : public GradientReducer {
 public:
  explicit BucketReducer(std::shared_ptr<GroupCommunicator> comm)
      : comm_(std::move(comm)),
        opt_(comm_->options()),
        rank_(comm_->rank()),
        world_(comm_->world_size()),
        every_micro_batch_(opt_.shard_optimizer && opt_.zero_stage == 2) {}

  void attach(const NamedTensors& named) override {
    VR_CHECK(params_.empty(), "BucketReducer::attach called twice");
    for (const auto& [name, p] : named) {
      names_.push_back(name);
      params_.push_back(p);
    }
    build_buckets();
    check_same_model();
    broadcast_weights();
    for (size_t i = 0; i < params_.size(); ++i)
      params_[i].register_hook([this, i](const at::Tensor& g) { on_gradient(i, g); });
  }

  void begin_micro_batch(bool is_last) override { armed_ = (is_last || every_micro_batch_) && opt_.overlap; }

  void end_micro_batch() override {
    if (!every_micro_batch_) return;  // the micro-batch's gradients accumulate in .grad()
    torch::NoGradGuard no_grad;
    armed_ = false;
    reduce_into_partition();
  }

  bool reduces_every_micro_batch() const override { return every_micro_batch_; }

  void synchronize(const std::vector<at::Tensor>& params) override {
    VR_CHECK(params.size() == params_.size(), "synchronize: {} parameters, attach saw {}", params.size(),
             params_.size());
    torch::NoGradGuard no_grad;
    armed_ = false;
    const double inv_w = 1.0 / static_cast<double>(world_);
    if (opt_.shard_optimizer) {
      reduce_into_partition();
      grad_shard_.mul_(inv_w);
      slice_written_ = false;
    } else {
      fill_missing_slots();
      launch_ready();
      for (size_t bi = 0; bi < buckets_.size(); ++bi) wait_for_bucket(bi);
      for (auto& b : buckets_) {
        for (size_t k = 0; k < b.params.size(); ++k) {
          at::Tensor& p = params_[b.params[k]];
          if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
          p.mutable_grad().copy_((slot(b, k) * inv_w).view_as(p.grad()));
        }
      }
      reset_micro_batch();
      ++reductions_;
    }
    wait_s_ = wait_acc_s_;
    wait_acc_s_ = 0;
    bytes_step_ = bytes_ * reductions_;
    reductions_ = 0;
    comm_->count_step();
  }

  bool sharded() const override { return opt_.shard_optimizer; }
  ShardLayout shard_layout() const override { return layout_; }
  at::Tensor gradient_shard() override { return grad_shard_; }

  void all_gather_parameters(const at::Tensor& master) override {
    VR_CHECK(master.numel() == layout_.numel, "all_gather_parameters: partition of {} elements, expected {}",
             master.numel(), layout_.numel);
    torch::NoGradGuard no_grad;
    const at::Tensor m = master.to(torch::kFloat).contiguous();
    // One bucket buffer at a time: the full-size weights never exist twice over.
    for (size_t bi = 0; bi < buckets_.size(); ++bi) {
      Bucket& b = buckets_[bi];
      b.flat = make_buffer(b);
      Pending w = comm_->collectives().all_gather(b.flat, m.narrow(0, b.shard_offset, b.part));
      comm_->wait(w, fmt::format("all_gather of updated weights, bucket {}/{} (step {})", bi + 1, buckets_.size(),
                                 comm_->steps()));
      for (size_t k = 0; k < b.params.size(); ++k) {
        at::Tensor& p = params_[b.params[k]];
        p.copy_(slot(b, k).view_as(p));
      }
      b.flat = at::Tensor();
    }
  }

  NamedTensors gather_shards(const at::Tensor& shard) override {
    VR_CHECK(shard.numel() == layout_.numel, "gather_shards: partition of {} elements, expected {}", shard.numel(),
             layout_.numel);
    torch::NoGradGuard no_grad;
    const at::Tensor s = shard.to(torch::kFloat).contiguous();
    std::vector<at::Tensor> full(params_.size());
    for (size_t bi = 0; bi < buckets_.size(); ++bi) {
      Bucket& b = buckets_[bi];
      b.flat = make_buffer(b);
      Pending w = comm_->collectives().all_gather(b.flat, s.narrow(0, b.shard_offset, b.part));
      comm_->wait(w, fmt::format("all_gather of optimizer state for a checkpoint, bucket {}/{}", bi + 1,
                                 buckets_.size()));
      if (rank_ == 0)
        for (size_t k = 0; k < b.params.size(); ++k)
          full[b.params[k]] = slot(b, k).view_as(params_[b.params[k]]).to(torch::kCPU, torch::kFloat, false, true);
      b.flat = at::Tensor();
    }
    NamedTensors out;
    if (rank_ == 0)
      for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(names_[i], full[i]);
    return out;
  }

  int64_t bytes_last_step() const override { return bytes_step_; }
  double wait_seconds_last_step() const override { return wait_s_; }
  std::string describe() const override {
    return fmt::format("{} buckets of <= {} MiB, {:.2f} MB per {} {} (fp32)", buckets_.size(), opt_.bucket_mb,
                       static_cast<double>(bytes_) / 1e6, every_micro_batch_ ? "micro-batch" : "step",
                       opt_.shard_optimizer ? "reduced" : "all-reduced") +
           (opt_.shard_optimizer
                ? fmt::format("; ZeRO-{}: optimizer state and gradients sharded, {} elements per rank, gradients "
                              "{} {}, weights all-gathered",
                              every_micro_batch_ ? 2 : 1, layout_.numel,
                              comm_->collectives().has_reduce_scatter() ? "reduce-scattered"
                                                                        : "all-reduced then sliced (gloo)",
                              every_micro_batch_ ? "every micro-batch" : "once per step")
                : std::string());
  }

 private:
  const char* collective_name() const {
    return opt_.shard_optimizer && comm_->collectives().has_reduce_scatter() ? "reduce_scatter" : "all_reduce";
  }

  at::Tensor make_buffer(const Bucket& b) const {
    return torch::zeros({b.buffer_numel(world_, opt_.shard_optimizer)},
                        torch::TensorOptions().dtype(torch::kFloat).device(comm_->device()));
  }

  at::Tensor slot(Bucket& b, size_t k) {
    if (!b.flat.defined()) b.flat = make_buffer(b);  // sharded: first gradient of the step
    const at::Tensor& p = params_[b.params[k]];
    return b.flat.narrow(0, b.offsets[k], p.numel());
  }

  void build_buckets() {
    VR_CHECK(!params_.empty(), "data parallel: no trainable parameter to synchronise");
    comm_->set_device(params_.front().device());
    const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(opt_.bucket_mb * 1024 * 1024 / 4));
    where_.assign(params_.size(), {0, 0});
    ready_.assign(params_.size(), false);
    Bucket cur;
    int64_t n = 0;
    auto close = [&] {
      if (cur.params.empty()) return;
      cur.numel = n;
      if (opt_.shard_optimizer) {
        cur.part = (n + world_ - 1) / world_;
        cur.shard_offset = layout_.numel;
        add_pieces(cur);
        layout_.numel += cur.part;
      } else {
        cur.flat = make_buffer(cur);  // plain data parallelism keeps its buckets (as PyTorch's DDP)
      }
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
      grad_shard_ = torch::zeros({layout_.numel}, torch::TensorOptions().dtype(torch::kFloat).device(comm_->device()));
  }

  // This rank's part [r·s, (r+1)·s) of bucket b, cut at parameter boundaries.
  void add_pieces(const Bucket& b) {
    const int64_t lo = rank_ * b.part, hi = std::min(lo + b.part, b.numel);
    for (size_t k = 0; k < b.params.size(); ++k) {
      const int64_t p0 = b.offsets[k], p1 = p0 + params_[b.params[k]].numel();
      const int64_t s0 = std::max(lo, p0), s1 = std::min(hi, p1);
      if (s0 >= s1) continue;
      layout_.pieces.push_back({names_[b.params[k]], s0 - p0, s1 - s0, b.shard_offset + (s0 - lo)});
    }
  }

  // Every rank must train the same tensors of the same model: names and sizes compared as min == max.
  void check_same_model() {
    std::vector<double> f;
    for (size_t i = 0; i < params_.size(); ++i) {
      f.push_back(static_cast<double>(std::hash<std::string>{}(names_[i]) % (1ULL << 50)));
      f.push_back(static_cast<double>(params_[i].numel()));
    }
    at::Tensor lo = torch::tensor(f, torch::kDouble).to(comm_->device()), hi = lo.clone();
    Pending a = comm_->collectives().all_reduce(lo, Reduce::min), b = comm_->collectives().all_reduce(hi, Reduce::max);
    comm_->wait(a, "the start-up model check (min)", true);
    comm_->wait(b, "the start-up model check (max)", true);
    at::Tensor diff = lo.ne(hi).cpu();
    for (int64_t i = 0; i < diff.numel(); ++i)
      VR_CHECK(!diff[i].item<bool>(),
               "rank {}: the ranks train different tensors: '{}' differs in name or size on some rank (same "
               "config, same model and the same selected layers on every rank?)",
               rank_, names_[static_cast<size_t>(i / 2)]);
  }

  // Trainable weights (and LoRA initialisations) from rank 0, through the bucket buffers.
  void broadcast_weights() {
    torch::NoGradGuard no_grad;
    for (auto& b : buckets_) {
      for (size_t k = 0; k < b.params.size(); ++k) slot(b, k).copy_(params_[b.params[k]].reshape({-1}));
      Pending w = comm_->collectives().broadcast(b.flat, 0);
      comm_->wait(w, "the start-up broadcast of the weights from rank 0", true);
      for (size_t k = 0; k < b.params.size(); ++k) {
        at::Tensor& p = params_[b.params[k]];
        p.copy_(slot(b, k).view_as(p));
      }
      if (opt_.shard_optimizer) b.flat = at::Tensor();
      else b.flat.zero_();
    }
  }

  void on_gradient(size_t i, const at::Tensor& g) {
    if (!armed_) return;  // non-final micro-batch: gradients just accumulate locally
    // LibTorch 2.x also runs this hook for the gradient a checkpoint's recompute captures, before the outer
    // backward hands the same gradient to .grad() (and to this hook) again: count it only then.
    if (vr::model::in_checkpoint_recompute()) return;
    torch::NoGradGuard no_grad;
    release_sent_gradients();
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

  // Parameters autograd never reached: their accumulated gradient, or zeros (identical on all ranks).
  void fill_missing_slots() {
    for (auto& b : buckets_) {
      if (b.launched) continue;
      for (size_t k = 0; k < b.params.size(); ++k) {
        const size_t i = b.params[k];
        if (ready_[i]) continue;
        at::Tensor s = slot(b, k);
        const at::Tensor& g = params_[i].grad();
        if (g.defined()) s.copy_(g.reshape_as(s));
        else s.zero_();
        ready_[i] = true;
      }
      b.waiting = 0;
    }
  }

  void launch_ready() {
    while (next_ < buckets_.size() && buckets_[next_].waiting == 0) {
      Bucket& b = buckets_[next_];
      if (opt_.shard_optimizer && comm_->collectives().has_reduce_scatter()) {
        at::Tensor out = grad_shard_.narrow(0, b.shard_offset, b.part);
        if (slice_written_) out = b.recv = torch::empty({b.part}, out.options());  // added when retired
        b.work = comm_->collectives().reduce_scatter(b.flat, out);
      } else {
        b.work = comm_->collectives().all_reduce(b.flat, Reduce::sum);
      }
      b.launched = true;
      // ZeRO: the sent bucket holds these gradients now. Their p.grad go at the next hook (the hook that
      // launched the bucket runs before autograd adds its own parameter's gradient, so not here).
      if (opt_.shard_optimizer) pending_release_.insert(pending_release_.end(), b.params.begin(), b.params.end());
      ++next_;
    }
    // ZeRO: a few buckets in flight at most, so their buffers do not pile up over backward.
    if (opt_.shard_optimizer)
      while (next_ - retired_ > static_cast<size_t>(kMaxBucketsInFlight)) retire(retired_++);
  }

  // Waits for bucket bi's collective; the time counts towards this step's wait_seconds_last_step().
  void wait_for_bucket(size_t bi) {
    const auto t0 = clock_type::now();
    comm_->wait(buckets_[bi].work, fmt::format("{} of gradient bucket {}/{} (step {})", collective_name(), bi + 1,
                                               buckets_.size(), comm_->steps() + 1));
    wait_acc_s_ += std::chrono::duration<double>(clock_type::now() - t0).count();
  }

  // ZeRO: waits for bucket bi's collective, adds this rank's reduced part into grad_shard_ (or writes it, the
  // step's first reduction) and frees the bucket's buffer.
  void retire(size_t bi) {
    Bucket& b = buckets_[bi];
    wait_for_bucket(bi);
    at::Tensor part = grad_shard_.narrow(0, b.shard_offset, b.part);
    if (!comm_->collectives().has_reduce_scatter()) {
      const at::Tensor mine = b.flat.narrow(0, rank_ * b.part, b.part);
      if (slice_written_) part.add_(mine);
      else part.copy_(mine);
    } else if (b.recv.defined()) {
      part.add_(b.recv);
    }
    b.flat = at::Tensor();
    b.recv = at::Tensor();
  }

  // ZeRO, after a reducing micro-batch's backward: the slots autograd did not fill, the buckets not yet sent,
  // every bucket retired; the full-size gradients are gone (the partition holds their sum).
  void reduce_into_partition() {
    release_sent_gradients();
    fill_missing_slots();
    launch_ready();
    while (retired_ < next_) retire(retired_++);
    for (at::Tensor& p : params_) p.mutable_grad() = at::Tensor();
    reset_micro_batch();
    slice_written_ = true;
    ++reductions_;
  }

  void reset_micro_batch() {
    for (auto& b : buckets_) {
      b.launched = false;
      b.waiting = b.params.size();
    }
    std::fill(ready_.begin(), ready_.end(), false);
    next_ = 0;
    retired_ = 0;
    pending_release_.clear();
  }

  void release_sent_gradients() {
    for (size_t i : pending_release_) params_[i].mutable_grad() = at::Tensor();
    pending_release_.clear();
  }

  std::shared_ptr<GroupCommunicator> comm_;
  DataParallelOptions opt_;
  int64_t rank_, world_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_;
  std::vector<std::pair<size_t, size_t>> where_;  // param -> (bucket, slot)
  std::vector<bool> ready_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> pending_release_;  // sharded: params whose p.grad the next hook frees
  ShardLayout layout_;     // sharded: this rank's partition
  at::Tensor grad_shard_;  // sharded: [layout_.numel] fp32 averaged gradient of the partition
  size_t next_ = 0;     // buckets launched this micro-batch
  size_t retired_ = 0;  // ZeRO: buckets retired this micro-batch (their part added into grad_shard_)
  bool armed_ = false;
  const bool every_micro_batch_;  // ZeRO-2
  bool slice_written_ = false;    // ZeRO: grad_shard_ holds an earlier micro-batch's sum this step
  int64_t bytes_ = 0;             // payload of one reduction (every bucket once)
  int64_t reductions_ = 0, bytes_step_ = 0;
  double wait_s_ = 0, wait_acc_s_ = 0;
};

}  // namespace

std::shared_ptr<GradientReducer> make_local_gradient_reducer() { return std::make_shared<GradientReducer>(); }

std::shared_ptr<GradientReducer> make_bucket_reducer(std::shared_ptr<GroupCommunicator> comm) {
  return std::make_shared<BucketReducer>(std::move(comm));
}

}  // namespace vr::distributed
