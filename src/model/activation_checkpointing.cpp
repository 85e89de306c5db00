#include "vr/model/activation_checkpointing.h"

#include <algorithm>
#include <mutex>

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "vr/core/error.h"

namespace vr::model {

namespace {

thread_local int recompute_depth = 0;  // > 0 inside CheckpointFunction::backward's autograd::grad

struct RecomputeScope {
  RecomputeScope() { ++recompute_depth; }
  ~RecomputeScope() { --recompute_depth; }
  RecomputeScope(const RecomputeScope&) = delete;
  RecomputeScope& operator=(const RecomputeScope&) = delete;
};

// The default generators fn may draw from (dropout): the CPU one, plus one per CUDA device among the tensors, and
// their states. Like torch.utils.checkpoint(preserve_rng_state=True): saved before the forward, replayed for the
// recompute, and the caller's state put back after it, so the recompute draws the same dropout masks.
struct RngStates {
  std::vector<std::pair<at::Generator, at::Tensor>> states;

  static RngStates capture(const std::vector<at::Generator>& gens) {
    RngStates r;
    for (auto g : gens) {  // a copy shares the generator; mutex() is non-const
      std::lock_guard<std::mutex> lock(g.mutex());
      r.states.emplace_back(g, g.get_state());
    }
    return r;
  }
  void restore() const {
    for (const auto& [g, state] : states) {
      auto gen = g;
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  }
};

std::vector<at::Generator> default_generators(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Generator> gens{at::detail::getDefaultCPUGenerator()};
  std::vector<c10::DeviceIndex> cuda;
  for (const auto& t : tensors) {
    if (!t.defined() || !t.is_cuda()) continue;
    const auto idx = t.device().index();
    if (std::find(cuda.begin(), cuda.end(), idx) != cuda.end()) continue;
    cuda.push_back(idx);
    gens.push_back(at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, idx)));
  }
  return gens;
}

// Keeps the recompute closure alive inside the autograd context (saved_data holds IValues; a capsule holds any
// CustomClassHolder without registering a TorchScript class).
struct FnHolder : torch::CustomClassHolder {
  FnHolder(TensorsFn f, std::vector<at::Tensor> p) : fn(std::move(f)), params(std::move(p)) {}
  TensorsFn fn;
  std::vector<at::Tensor> params;  // the trainable tensors fn reads (same TensorImpls as the module's)
  std::vector<at::Generator> generators;
  RngStates rng_at_forward;  // the generators' states when forward ran fn
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // Autograd runs this with grad mode off. Every tensor of `inputs` and `params` becomes an input edge.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                c10::intrusive_ptr<FnHolder> holder, at::TensorList inputs,
                                                at::TensorList params) {
    ctx->saved_data["fn"] = at::IValue::make_capsule(holder);
    ctx->saved_data["n_params"] = static_cast<int64_t>(params.size());
    // Inputs are saved (checked for in-place modification on unpack); params live in the holder.
    ctx->save_for_backward(inputs.vec());
    holder->rng_at_forward = RngStates::capture(holder->generators);
    return holder->fn(inputs.vec());
  }

  // Gradients, in the order of forward's arguments: none for the closure, one per input, one per param.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto holder = c10::static_intrusive_pointer_cast<FnHolder>(ctx->saved_data["fn"].toCapsule());
    const int64_t n_params = ctx->saved_data["n_params"].toInt();
    auto saved = ctx->get_saved_variables();
    const auto& params = holder->params;

    std::vector<at::Tensor> detached;
    detached.reserve(saved.size());
    for (const auto& x : saved) detached.push_back(x.detach().requires_grad_(x.requires_grad()));

    std::vector<at::Tensor> outputs;
    {
      const auto rng_now = RngStates::capture(holder->generators);
      holder->rng_at_forward.restore();  // same dropout masks as the forward
      torch::AutoGradMode grad_on(true);
      try {
        outputs = holder->fn(detached);
      } catch (...) {
        rng_now.restore();
        throw;
      }
      rng_now.restore();
    }
    // Differentiate only outputs that depend on something trainable, w.r.t. what requires grad.
    std::vector<at::Tensor> roots, root_grads, wrt;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].requires_grad() || !grad_outputs[i].defined()) continue;
      roots.push_back(outputs[i]);
      root_grads.push_back(grad_outputs[i]);
    }
    std::vector<size_t> input_slot;
    for (size_t i = 0; i < detached.size(); ++i)
      if (detached[i].requires_grad()) wrt.push_back(detached[i]), input_slot.push_back(i);
    for (const auto& p : params) wrt.push_back(p);

    torch::autograd::variable_list result(1 + saved.size() + static_cast<size_t>(n_params));
    if (roots.empty() || wrt.empty()) return result;
    std::vector<at::Tensor> grads;
    {
      RecomputeScope inner;  // the params' hooks fire here on LibTorch 2.x: in_checkpoint_recompute() says so
      grads = torch::autograd::grad(roots, wrt, root_grads, /*retain_graph=*/false, /*create_graph=*/false,
                                    /*allow_unused=*/true);
    }
    for (size_t k = 0; k < input_slot.size(); ++k) result[1 + input_slot[k]] = grads[k];
    for (int64_t k = 0; k < n_params; ++k) result[1 + saved.size() + k] = grads[input_slot.size() + k];
    return result;
  }
};

}  // namespace

bool in_checkpoint_recompute() { return recompute_depth > 0; }

std::vector<at::Tensor> checkpoint(const TensorsFn& fn, const std::vector<at::Tensor>& inputs,
                                   const std::vector<at::Tensor>& params) {
  for (size_t i = 0; i < inputs.size(); ++i) VR_CHECK(inputs[i].defined(), "checkpoint: input {} is undefined", i);
  std::vector<at::Tensor> trainable;
  for (const auto& p : params)
    if (p.defined() && p.requires_grad()) trainable.push_back(p);
  bool any_input_grad = false;
  for (const auto& x : inputs) any_input_grad = any_input_grad || x.requires_grad();
  if (!at::GradMode::is_enabled() || (trainable.empty() && !any_input_grad)) return fn(inputs);
  auto holder = c10::make_intrusive<FnHolder>(fn, trainable);
  std::vector<at::Tensor> all = inputs;
  all.insert(all.end(), trainable.begin(), trainable.end());
  holder->generators = default_generators(all);
  return CheckpointFunction::apply(holder, at::TensorList(inputs), at::TensorList(trainable));
}

}  // namespace vr::model
