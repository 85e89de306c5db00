// Activation (gradient) checkpointing, reentrant style: LibTorch C++ has no torch.utils.checkpoint.
//
// forward:  runs fn(inputs) with autograd off and keeps only the inputs (e.g. one decoder layer keeps its
//           [B,T,H] input instead of ~10 intermediate activations of up to [B,nH,T,T]).
// backward: re-runs fn with autograd on from detached copies of the inputs, then differentiates the recomputed
//           outputs w.r.t. those copies and the trainable `params`, returning both to the outer graph.
//
// Because the trainable parameters are explicit inputs of the autograd node, gradients reach them even when no
// tensor input requires grad (frozen embeddings), and gradients reach the inputs even when every parameter is
// frozen (a trainable projector in front of layer 0). Random draws in fn (LoRA dropout) are replayed: the default
// CPU generator and those of the CUDA devices of inputs/params are saved before the forward, restored for the
// recompute and put back afterwards (torch.utils.checkpoint(preserve_rng_state=True)), so the recompute sees the
// same dropout masks and the caller's random stream is not disturbed.
#pragma once
#include <functional>
#include <vector>

#include <ATen/Tensor.h>

namespace vr::model {

using TensorsFn = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

// Returns fn(inputs). `inputs` must all be defined; `params` are the tensors fn reads that may need gradients
// (those with requires_grad = false are ignored). Without grad mode, or when nothing requires grad, it just
// calls fn.
std::vector<at::Tensor> checkpoint(const TensorsFn& fn, const std::vector<at::Tensor>& inputs,
                                   const std::vector<at::Tensor>& params);

// True while this thread differentiates a checkpoint's recompute (inside the outer backward). Since LibTorch 2.0
// the autograd engine runs a parameter's tensor hooks for the gradient that this inner torch::autograd::grad
// captures, and then again when the outer backward accumulates the same gradient into .grad(); LibTorch 1.13 runs
// them only at accumulation. Hooks that must see each parameter's gradient exactly once per backward (the
// data-parallel gradient reducer) return early while this is true. The inner grad runs re-entrantly on the thread
// that runs the checkpoint's backward (the engine's reentrant path), which is where the hooks fire.
bool in_checkpoint_recompute();

}  // namespace vr::model
