#include "vr/train/optimizer.h"

#include <fmt/ranges.h>  // fmt::join (in fmt/ranges.h since fmt 11, bundled by LibTorch 2.x)
#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"
#include "vr/distributed/communicator.h"
#include "vr/distributed/gradient_reducer.h"

namespace vr::train {

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options,
             std::shared_ptr<distributed::GradientReducer> reducer, std::shared_ptr<distributed::Communicator> comm)
    : groups_(std::move(groups)), options_(options) {
  torch::NoGradGuard no_grad;
  for (const auto& g : groups_)
    VR_CHECK(g.names.size() == g.params.size(), "AdamW group '{}': {} names for {} tensors", g.name, g.names.size(),
             g.params.size());
  if (reducer && reducer->sharded() && comm && comm->world_size() > 1) {
    reducer_ = std::move(reducer);  // no full-size state: the partition is made after GradientReducer::attach()
    comm_ = std::move(comm);
    return;
  }
  for (const auto& g : groups_) {
    std::vector<Slot> slots;
    for (size_t i = 0; i < g.params.size(); ++i) {
      const auto& p = g.params[i];
      Slot s;
      s.name = g.names[i];
      s.param = p;
      s.master = p.scalar_type() == at::kFloat ? p : p.detach().to(at::kFloat).clone();
      s.exp_avg = torch::zeros_like(s.master);
      s.exp_avg_sq = torch::zeros_like(s.master);
      slots.push_back(std::move(s));
    }
    slots_.push_back(std::move(slots));
  }
}

// Creates this rank's partition of master / exp_avg / exp_avg_sq from the reducer's layout: from pending_ (a loaded
// checkpoint) where present, else masters from the parameters (broadcast from rank 0 by attach) and zero moments.
void AdamW::ensure_partition() {
  if (!reducer_ || partitioned_) return;
  torch::NoGradGuard no_grad;
  const distributed::ShardLayout layout = reducer_->shard_layout();
  VR_CHECK(layout.numel > 0, "sharded AdamW: the gradient reducer has no partition yet (GradientReducer::attach must run "
                             "before the first optimizer step)");
  std::map<std::string, std::pair<size_t, at::Tensor>> by_name;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) by_name[groups_[gi].names[i]] = {gi, groups_[gi].params[i]};
  const auto opts = torch::TensorOptions().dtype(torch::kFloat).device(groups_.front().params.front().device());
  master_ = torch::zeros({layout.numel}, opts);
  exp_avg_ = torch::zeros({layout.numel}, opts);
  exp_avg_sq_ = torch::zeros({layout.numel}, opts);
  auto part_of = [](const at::Tensor& full, const distributed::ShardPiece& pc) {
    return full.reshape({-1}).narrow(0, pc.param_offset, pc.numel);
  };
  for (const auto& pc : layout.pieces) {
    auto it = by_name.find(pc.name);
    VR_CHECK(it != by_name.end(), "sharded AdamW: the partition holds '{}', which no parameter group has", pc.name);
    pieces_.push_back({it->second.first, pc.shard_offset, pc.numel});
    at::Tensor m = master_.narrow(0, pc.shard_offset, pc.numel);
    if (pending_.empty()) {
      m.copy_(part_of(it->second.second.detach(), pc));
      continue;
    }
    m.copy_(part_of(pending_.at("master." + pc.name), pc));
    exp_avg_.narrow(0, pc.shard_offset, pc.numel).copy_(part_of(pending_.at("exp_avg." + pc.name), pc));
    exp_avg_sq_.narrow(0, pc.shard_offset, pc.numel).copy_(part_of(pending_.at("exp_avg_sq." + pc.name), pc));
  }
  if (pending_copied_)
    for (const auto& kv : pending_) pending_copied_(kv.first);
  pending_.clear();
  pending_copied_ = nullptr;
  partitioned_ = true;
}

void AdamW::sharded_step(double lr_scale) {
  ensure_partition();
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias_correction1 = 1 - std::pow(b1, static_cast<double>(step_));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(b2, static_cast<double>(step_)));
  const at::Tensor grad = reducer_->gradient_shard();
  for (const Piece& pc : pieces_) {
    const double lr = groups_[pc.group].lr * lr_scale, wd = groups_[pc.group].weight_decay;
    at::Tensor m = master_.narrow(0, pc.shard_offset, pc.numel);
    at::Tensor ea = exp_avg_.narrow(0, pc.shard_offset, pc.numel);
    at::Tensor eas = exp_avg_sq_.narrow(0, pc.shard_offset, pc.numel);
    const at::Tensor g = grad.narrow(0, pc.shard_offset, pc.numel);
    // The operations of the unsharded step below, element for element.
    if (wd != 0) m.mul_(1 - lr * wd);
    ea.mul_(b1).add_(g, 1 - b1);
    eas.mul_(b2).addcmul_(g, g, 1 - b2);
    auto denom = (eas.sqrt() / bias_correction2_sqrt).add_(options_.eps);
    m.addcdiv_(ea, denom, -lr / bias_correction1);
  }
  reducer_->all_gather_parameters(master_);
}

void AdamW::step(double lr_scale) {
  torch::NoGradGuard no_grad;
  ++step_;
  if (reducer_) return sharded_step(lr_scale);
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias_correction1 = 1 - std::pow(b1, static_cast<double>(step_));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(b2, static_cast<double>(step_)));
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const double lr = groups_[gi].lr * lr_scale, wd = groups_[gi].weight_decay;
    for (auto& s : slots_[gi]) {
      const auto& grad_in = s.param.grad();
      if (!grad_in.defined()) continue;
      at::Tensor grad = grad_in.scalar_type() == at::kFloat ? grad_in : grad_in.to(at::kFloat);
      // Same operation order as torch.optim.AdamW (single-tensor path), so results match it bit for bit.
      if (wd != 0) s.master.mul_(1 - lr * wd);
      s.exp_avg.mul_(b1).add_(grad, 1 - b1);
      s.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
      auto denom = (s.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options_.eps);
      s.master.addcdiv_(s.exp_avg, denom, -lr / bias_correction1);
      if (!s.master.is_same(s.param)) s.param.copy_(s.master);
    }
  }
}

void AdamW::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.mutable_grad() = at::Tensor();
}

double AdamW::clip_grad_norm(double max_norm) {
  if (!reducer_) {
    std::vector<at::Tensor> params;
    for (const auto& g : groups_) params.insert(params.end(), g.params.begin(), g.params.end());
    return vr::train::clip_grad_norm(params, max_norm);
  }
  torch::NoGradGuard no_grad;
  ensure_partition();
  // Squares summed in fp64 over this rank's pieces (not the padding), then over ranks: every rank gets the same
  // norm, so every rank clips (or stops on a non-finite norm) alike.
  at::Tensor grad = reducer_->gradient_shard();
  at::Tensor sq = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(grad.device()));
  for (const Piece& pc : pieces_) sq += squared_sum_fp64(grad.narrow(0, pc.shard_offset, pc.numel));
  const double total = std::sqrt(comm_->all_reduce_sum({sq.item<double>()})[0]);
  const double factor = clip_factor(total, max_norm);
  if (factor < 1) grad.mul_(factor);
  return total;
}

void AdamW::scale_gradients(double factor) {
  torch::NoGradGuard no_grad;
  if (reducer_) {
    reducer_->gradient_shard().mul_(factor);
    return;
  }
  for (auto& g : groups_)
    for (auto& p : g.params)
      if (p.grad().defined()) p.mutable_grad().mul_(factor);
}

int64_t AdamW::num_state_elements() {
  if (reducer_) {
    ensure_partition();
    return 3 * master_.numel();
  }
  int64_t n = 0;
  for (const auto& group : slots_)
    for (const auto& s : group) n += 2 * s.exp_avg.numel() + (s.master.is_same(s.param) ? 0 : s.master.numel());
  return n;
}

std::map<std::string, at::Tensor> AdamW::state_dict() {
  std::map<std::string, at::Tensor> out;
  if (reducer_) {
    ensure_partition();
    // Collective: three gathers of every rank's partition; full tensors on rank 0 only.
    for (auto [prefix, shard] : {std::pair<const char*, at::Tensor>{"exp_avg.", exp_avg_},
                                 {"exp_avg_sq.", exp_avg_sq_}, {"master.", master_}})
      for (auto& [name, t] : reducer_->gather_shards(shard)) out[prefix + name] = t;
    out["step"] = torch::tensor(step_, torch::kInt64);
    return out;
  }
  for (const auto& group : slots_)
    for (const auto& s : group) {
      out["exp_avg." + s.name] = s.exp_avg;
      out["exp_avg_sq." + s.name] = s.exp_avg_sq;
      out["master." + s.name] = s.master;
    }
  out["step"] = torch::tensor(step_, torch::kInt64);
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, at::Tensor>& state, const CopiedFn& copied) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& key, const at::Tensor& like) {
    auto it = state.find(key);
    VR_CHECK(it != state.end(), "optimizer state: tensor '{}' is missing (checkpoint from another trainable set?)",
             key);
    VR_CHECK(it->second.sizes() == like.sizes(), "optimizer state: tensor '{}' has shape {} but the model needs {}",
             key, vr::shape_string(it->second.sizes()), vr::shape_string(like.sizes()));
    return it->second;
  };
  auto it = state.find("step");
  VR_CHECK(it != state.end(), "optimizer state: 'step' is missing");
  step_ = it->second.item<int64_t>();
  if (reducer_) {
    // Checked and kept (full, as loaded) until the partition exists; the parameters take the masters now.
    pending_.clear();
    pending_copied_ = copied;
    for (auto& g : groups_)
      for (size_t i = 0; i < g.params.size(); ++i) {
        for (const char* prefix : {"exp_avg.", "exp_avg_sq.", "master."})
          pending_[prefix + g.names[i]] = get(prefix + g.names[i], g.params[i]);
        g.params[i].copy_(pending_.at("master." + g.names[i]));
        if (copied) copied("master." + g.names[i]);  // read again (this rank's part only) for the partition
      }
    if (partitioned_) {  // loaded after the partition was made: refill it
      partitioned_ = false;
      pieces_.clear();
      ensure_partition();
    }
    return;
  }
  for (auto& group : slots_)
    for (auto& s : group) {
      for (auto [prefix, dst] : {std::pair<const char*, at::Tensor*>{"exp_avg.", &s.exp_avg},
                                 {"exp_avg_sq.", &s.exp_avg_sq}, {"master.", &s.master}}) {
        dst->copy_(get(prefix + s.name, *dst));
        if (copied) copied(prefix + s.name);
      }
      if (!s.master.is_same(s.param)) s.param.copy_(s.master);
    }
}

bool is_no_decay_param(const std::string& name, int64_t dim) {
  if (dim <= 1) return true;  // biases and norm weights are 1-d
  return name.find("norm") != std::string::npos || (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0);
}

at::Tensor squared_sum_fp64(const at::Tensor& x) {
  constexpr int64_t kChunk = int64_t{1} << 24;  // 16 Mi elements: a 128 MiB fp64 temporary at most
  const at::Tensor flat = x.reshape({-1});
  at::Tensor sum = torch::zeros({}, x.options().dtype(at::kDouble));
  for (int64_t i = 0; i < flat.numel(); i += kChunk)
    sum += flat.narrow(0, i, std::min(kChunk, flat.numel() - i)).to(at::kDouble).square().sum();
  return sum;
}

double clip_factor(double norm, double max_norm) {
  if (max_norm <= 0 || !std::isfinite(norm)) return 1.0;
  const double factor = max_norm / (norm + 1e-6);
  return factor < 1 ? static_cast<double>(static_cast<float>(factor)) : 1.0;
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  at::Tensor sq;
  for (const auto& p : params)
    if (p.grad().defined()) sq = sq.defined() ? sq + squared_sum_fp64(p.grad()) : squared_sum_fp64(p.grad());
  if (!sq.defined()) return 0.0;
  const double total = std::sqrt(sq.item<double>());  // the step's one host read
  const double factor = clip_factor(total, max_norm);
  if (factor < 1)
    for (const auto& p : params)
      if (p.grad().defined()) p.mutable_grad().mul_(factor);
  return total;
}

}  // namespace vr::train
