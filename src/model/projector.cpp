#include "vr/model/projector.h"

#include <torch/torch.h>

#include "vr/core/error.h"
#include "vr/model/param_init.h"

namespace vr::model {

static void check_type(const std::string& type, int64_t dv, int64_t h) {
  VR_CHECK(type == "mlp2x_gelu" || type == "linear" || type == "identity",
           "projector: unsupported type '{}' (mlp2x_gelu, linear, identity)", type);
  VR_CHECK(type != "identity" || dv == h,
           "projector: 'identity' needs the vision hidden size ({}) to equal the LLM hidden size ({})", dv, h);
}

ProjectorImpl::ProjectorImpl(std::string type, int64_t dv, int64_t h) : type_(std::move(type)) {
  check_type(type_, dv, h);
  if (type_ == "identity") return;
  linear_1 = register_module("linear_1", make_linear(dv, h));
  if (type_ == "mlp2x_gelu") linear_2 = register_module("linear_2", make_linear(h, h));
}

at::Tensor ProjectorImpl::forward(const at::Tensor& x) {
  if (!linear_1) return x;
  auto y = linear_1(x.to(linear_1->weight.scalar_type()));
  if (linear_2) y = linear_2(at::gelu(y));  // exact erf GELU (llava-hf projector_hidden_act "gelu")
  return y;
}

int64_t projector_num_parameters(const std::string& type, int64_t dv, int64_t h) {
  check_type(type, dv, h);
  if (type == "identity") return 0;
  int64_t n = dv * h + h;
  if (type == "mlp2x_gelu") n += h * h + h;
  return n;
}

}  // namespace vr::model
