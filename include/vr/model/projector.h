// Vision → language projector (LLaVA's mm_projector, llava-hf's multi_modal_projector).
//   mlp2x_gelu: linear_2(GELU_erf(linear_1(x)))   linear_1 [H,Dv], linear_2 [H,H] (both with bias)
//   linear:     linear_1(x)                       linear_1 [H,Dv]
//   identity:   x                                 (Dv must equal H)
// Parameter names follow llava-hf (linear_1 = LLaVA's mm_projector.0, linear_2 = mm_projector.2).
#pragma once
#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

namespace vr::model {

class ProjectorImpl : public torch::nn::Module {
 public:
  ProjectorImpl(std::string type, int64_t vision_hidden, int64_t text_hidden);
  at::Tensor forward(const at::Tensor& x);  // [N,F,Dv] → [N,F,H]
  const std::string& type() const { return type_; }

  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};  // null when the type has no such layer

 private:
  std::string type_;
};
TORCH_MODULE(Projector);

// Parameter count from shapes only (SPEC §1.5: 20,979,712 for 1024→4096 mlp2x_gelu).
int64_t projector_num_parameters(const std::string& type, int64_t vision_hidden, int64_t text_hidden);

}  // namespace vr::model
