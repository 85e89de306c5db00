#include "vr/train/optimizer.h"

#include <fmt/ranges.h>  // fmt::join (in fmt/ranges.h since fmt 11, bundled by LibTorch 2.x)
#include <cmath>

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/core/shape_string.h"

namespace vr::train {

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : groups_(std::move(groups)), options_(options) {
  torch::NoGradGuard no_grad;
  for (const auto& g : groups_) {
    VR_CHECK(g.names.size() == g.params.size(), "AdamW group '{}': {} names for {} tensors", g.name, g.names.size(),
             g.params.size());
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

void AdamW::step(double lr_scale) {
  torch::NoGradGuard no_grad;
  ++step_;
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

int64_t AdamW::num_state_elements() const {
  int64_t n = 0;
  for (const auto& group : slots_)
    for (const auto& s : group) n += 2 * s.exp_avg.numel() + (s.master.is_same(s.param) ? 0 : s.master.numel());
  return n;
}

std::map<std::string, at::Tensor> AdamW::state_dict() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& group : slots_)
    for (const auto& s : group) {
      out["exp_avg." + s.name] = s.exp_avg;
      out["exp_avg_sq." + s.name] = s.exp_avg_sq;
      out["master." + s.name] = s.master;
    }
  out["step"] = torch::tensor(step_, torch::kInt64);
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, at::Tensor>& state) {
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
  for (auto& group : slots_)
    for (auto& s : group) {
      s.exp_avg.copy_(get("exp_avg." + s.name, s.exp_avg));
      s.exp_avg_sq.copy_(get("exp_avg_sq." + s.name, s.exp_avg_sq));
      s.master.copy_(get("master." + s.name, s.master));
      if (!s.master.is_same(s.param)) s.param.copy_(s.master);
    }
}

bool is_no_decay_param(const std::string& name, int64_t dim) {
  if (dim <= 1) return true;  // biases and norm weights are 1-d
  return name.find("norm") != std::string::npos || name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().to(at::kFloat).norm(2));
  if (norms.empty()) return 0.0;
  double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && std::isfinite(total)) {
    double coef = max_norm / (total + 1e-6);
    if (coef < 1)
      for (const auto& p : params)
        if (p.grad().defined()) p.mutable_grad().mul_(coef);
  }
  return total;
}

}  // namespace vr::train
