// How model code applies its linear layers: y = layer(x) plus whatever adaptation code attached to the layer
// from outside. The model knows no adaptation method; a method (LoRA, vr/model/lora.h) registers a
// LinearBranch child on the torch::nn::Linear it adapts, after the model is built, the way PEFT and torchtune
// wrap nn.Linear modules. A plain Linear (no children) costs one emptiness check.
#pragma once
#include <ATen/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

namespace vr::model {

// A branch added to a Linear's output: y = W·x + b + Σ branch.delta(x) over the active branches.
class LinearBranchImpl : public torch::nn::Module {
 public:
  // The branch's contribution for input x [..., in] → [..., out]; cast to y's dtype by apply_linear.
  virtual at::Tensor delta(const at::Tensor& x) = 0;
  // false: adds nothing (e.g. an adapter already merged into W).
  virtual bool active() const { return true; }
};

// layer(x) plus the delta of every active LinearBranch child of `layer`.
at::Tensor apply_linear(const torch::nn::Linear& layer, const at::Tensor& x);

}  // namespace vr::model
