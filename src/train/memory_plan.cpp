// Peak training memory from shapes (see memory_plan.h for the model and its symbols).
#include "vr/train/memory_plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/model/lm_loss.h"
#include "vr/model/projector.h"
#include "vr/train/metrics.h"

namespace vr::train {

namespace {

// Bytes autograd keeps per decoder layer, as a·E·H + b·E·I + c·P, without the layer's input h. Measured on
// LibTorch 1.13 CPU (identical op sequence to llama.cpp: RMSNorm in fp32, GQA K/V repeated, eager softmax in
// fp32) with torch.autograd.graph.saved_tensors_hooks, distinct storages:
//   fp32 trained: n1-norm pow/normed/out, q, K rep, V rep, attention out, residual x, n2-norm pow/normed/out
//                 = 11 E·H · 4; gate, silu, up, gate·up = 4 E·I · 4; fp32 probabilities P · 4
//   fp32 frozen:  frozen linears keep no input: norm pow ×2, q, K rep, V rep, x = 6 E·H · 4; gate, silu, up
//   bf16 trained: per norm fp32 copy + pow (8) and bf16 normed + out (4); q, K, V, attention out (2 each);
//                 = 32 E·H bytes; 4 E·I · 2; P in fp32 (softmax output) and bf16 (its cast) = 6 P
//   bf16 frozen:  per norm fp32 copy + pow (8); q, K, V (2 each) = 22 E·H; 3 E·I · 2; 6 P
struct LayerBytes {
  double eh, ei, p;
};
LayerBytes layer_bytes(bool fp32, bool trained) {
  if (fp32) return trained ? LayerBytes{44, 16, 4} : LayerBytes{24, 12, 4};
  return trained ? LayerBytes{32, 8, 6} : LayerBytes{22, 6, 6};
}

int64_t in_features(const std::string& target, const model::LlamaConfig& t) {
  if (target == "o_proj") return t.num_attention_heads * t.resolved_head_dim();
  if (target == "down_proj") return t.intermediate_size;
  return t.hidden_size;
}
int64_t out_features(const std::string& target, const model::LlamaConfig& t) {
  if (target == "q_proj") return t.num_attention_heads * t.resolved_head_dim();
  if (target == "k_proj" || target == "v_proj") return t.num_key_value_heads * t.resolved_head_dim();
  if (target == "o_proj" || target == "down_proj") return t.hidden_size;
  return t.intermediate_size;
}

}  // namespace

MemoryPlan plan_memory(const MemoryPlanInputs& in) {
  const auto& t = in.model.text;
  const auto& v = in.model.vision;
  VR_CHECK(in.batch > 0 && in.tokens > 0, "memory plan: batch and tokens must be positive");
  const double s = static_cast<double>(in.bytes_per_element);
  const bool fp32 = in.bytes_per_element >= 4;
  const double B = static_cast<double>(in.batch), T = static_cast<double>(in.tokens), E = B * T;
  const double H = static_cast<double>(t.hidden_size), I = static_cast<double>(t.intermediate_size);
  const double nH = static_cast<double>(t.num_attention_heads), V = static_cast<double>(t.vocab_size);
  const double Hkv = static_cast<double>(t.num_key_value_heads * t.resolved_head_dim());
  const double P = B * nH * T * T;
  const int64_t L = t.num_hidden_layers;

  MemoryPlan m;
  m.weights = static_cast<double>(in.model.num_parameters()) * s;
  m.optimizer = static_cast<double>(in.trainable_params) * (8.0 + (fp32 ? 0.0 : 4.0));
  m.gradients = static_cast<double>(in.trainable_params) * s;

  // Gradients per tuned layer: LoRA adapters r·(in + out) per target; else the layer's share of the trainable
  // elements outside the projector and lm_head.
  const double proj_params = in.projector_trainable ? static_cast<double>(model::projector_num_parameters(
                                                          in.model.projector_type, v.hidden_size, t.hidden_size))
                                                    : 0.0;
  const double head_params = in.lm_head_trainable ? V * H : 0.0;
  const double k = static_cast<double>(in.tuned_layers.size());
  double lora_params_per_layer = 0, lora_in = 0;
  for (const auto& target : in.lora_targets) {
    lora_params_per_layer += static_cast<double>(in.lora_rank * (in_features(target, t) + out_features(target, t)));
    lora_in += static_cast<double>(in_features(target, t));
  }
  const double layer_grad =
      k == 0 ? 0.0
             : s * (in.lora ? lora_params_per_layer
                            : std::max(0.0, static_cast<double>(in.trainable_params) - proj_params - head_params) / k);
  std::vector<bool> tuned(static_cast<size_t>(std::max<int64_t>(L, 0)), false);
  for (auto i : in.tuned_layers)
    if (i >= 0 && i < L) tuned[static_cast<size_t>(i)] = true;
  // Gradients reach layer i when anything below it trains (the projector feeds layer 0's input).
  int64_t first_grad_layer = in.projector_trainable ? 0 : L;
  for (int64_t i = 0; i < L; ++i)
    if (tuned[static_cast<size_t>(i)]) {
      first_grad_layer = std::min(first_grad_layer, i);
      break;
    }

  // Per layer: what its backward needs (kept), and its input when that is saved (fp32: RMSNorm's pow reads h
  // itself; bf16 keeps only the fp32 copy, already in the table; checkpointing keeps h and nothing else).
  auto layer_set = [&](int64_t i) {
    const bool trained = tuned[static_cast<size_t>(i)] && !in.lora;
    const LayerBytes c = layer_bytes(fp32, trained);
    double bytes = c.eh * E * H + c.ei * E * I + c.p * P;
    if (in.fused_attention)  // no P; K/V not repeated (2·E·Hkv instead of 2·E·H) but the output kept
      bytes += -c.p * P + B * nH * T * 4.0 + s * E * (2.0 * Hkv - 2.0 * H + H);
    if (in.lora && tuned[static_cast<size_t>(i)]) {
      // Adapter inputs (dropout output and its mask, or x itself), and x·A [E, r] per target.
      bytes += E * lora_in * s * (in.lora_dropout ? 2.0 : 1.0) +
               E * static_cast<double>(in.lora_rank * static_cast<int64_t>(in.lora_targets.size())) * s;
    }
    return bytes;
  };
  const double input_bytes = E * H * s;
  auto kept = [&](int64_t i) {  // held from the layer's forward until its backward
    if (i < first_grad_layer) return 0.0;
    if (in.gradient_checkpointing) return input_bytes;
    return layer_set(i) + (fp32 ? input_bytes : 0.0);
  };
  const double attn_fwd = in.fused_attention ? 0.0 : 2.0 * P * s;  // scores, scores + mask
  const double layer_bwd = (in.fused_attention ? E * H * 4.0 : P * (8.0 + 2.0 * s)) + 3.0 * E * I * s + 4.0 * E * H * s;

  // Around the stack: the projector (trainable: its input, linear_1 output and GELU output), the final norm
  // (RMSNorm, 8·E·H with a frozen weight, fp32 copies), the loss.
  const double n_img = B * static_cast<double>(in.images_per_sample);
  const double F = static_cast<double>(in.model.image_seq_length());
  const double proj_kept =
      in.projector_trainable ? n_img * F * (static_cast<double>(v.hidden_size) + 2.0 * H) * s : 0.0;
  const double norm_kept = (in.lm_head_trainable ? (fp32 ? 12.0 : 10.0) : 8.0) * E * H;
  const double N = in.supervised_tokens > 0 ? static_cast<double>(in.supervised_tokens) : E;
  double loss_kept = 0, loss_tr = 0;
  if (in.full_logits) {
    loss_kept = E * V * (8.0 + (fp32 ? 0.0 : s));  // logits (+ fp32 copy), log_softmax output
    loss_tr = 2.0 * E * V * 4.0;                    // its gradient and the upcast one
  } else {
    const double C = std::min(N, static_cast<double>(in.loss_chunk_rows > 0 ? in.loss_chunk_rows
                                                                           : model::default_loss_chunk_rows(t.vocab_size)));
    loss_kept = N * H * s + (in.lm_head_trainable ? V * H * 4.0 : 0.0);  // dL/dh rows, dL/dW in fp32
    loss_tr = N * H * s + C * V * (fp32 ? 4.0 : 4.0 + 2.0 * s) + (in.lm_head_trainable && !fp32 ? V * H * s : 0.0);
  }
  // The frozen vision tower runs without a graph: one layer's working set at a time (tokens F+1 incl. CLS).
  const double Fv = F + 1, Dv = static_cast<double>(v.hidden_size), Iv = static_cast<double>(v.intermediate_size);
  const double vision_tr =
      n_img * Fv * (6.0 * Dv + 2.0 * Iv) * s + n_img * static_cast<double>(v.num_attention_heads) * Fv * Fv * (2.0 * s + 4.0);

  const double stat = m.weights + m.optimizer;
  const double accum_grads = in.grad_accum > 1 ? m.gradients : 0.0;  // held across micro-batches
  double stack = 0;
  for (int64_t i = 0; i < L; ++i) stack += kept(i);
  m.activations = stack + proj_kept + norm_kept + loss_kept;

  auto consider = [&](double total, double transient, const std::string& phase) {
    if (total > m.peak) {
      m.peak = total;
      m.transient = transient;
      m.peak_phase = phase;
    }
  };
  consider(stat + accum_grads + vision_tr, vision_tr, "vision tower forward");
  const double fwd_tr = std::max(loss_tr, attn_fwd);
  consider(stat + accum_grads + m.activations + fwd_tr, fwd_tr, "end of forward");
  // Backward, top layer first: layers below i still hold their sets; gradients of tuned layers >= i exist.
  double below = stack, grads_done = head_params * s;
  for (int64_t i = L - 1; i >= first_grad_layer; --i) {
    below -= kept(i);
    if (tuned[static_cast<size_t>(i)]) grads_done += layer_grad;
    const double recompute = in.gradient_checkpointing ? layer_set(i) + attn_fwd : 0.0;
    const double held = below + kept(i) + proj_kept;
    const double tr = recompute + layer_bwd;
    consider(stat + std::max(grads_done, accum_grads) + held + tr, tr, fmt::format("backward of layer {}", i));
  }
  // Optimizer step: every gradient, plus fp32 temporaries (upcast gradient, sqrt, denominator) of the largest
  // trainable tensor.
  double largest = std::max(in.lm_head_trainable ? V * H : 0.0, in.projector_trainable ? H * std::max(H, Dv) : 0.0);
  if (k > 0) largest = std::max(largest, in.lora ? static_cast<double>(in.lora_rank) * std::max(H, I) : H * I);
  consider(stat + m.gradients + 3.0 * largest * 4.0, 3.0 * largest * 4.0, "optimizer step");
  return m;
}

std::string MemoryPlan::table() const {
  return fmt::format(
      "  weights      {:>12}\n  optimizer    {:>12}  (AdamW moments, fp32 masters for non-fp32 weights)\n"
      "  gradients    {:>12}\n  activations  {:>12}  (kept for backward at the end of the forward)\n"
      "  peak         {:>12}  at {} (working set there {}); CUDA context and allocator slack not included\n",
      format_bytes(weights), format_bytes(optimizer), format_bytes(gradients), format_bytes(activations),
      format_bytes(peak), peak_phase, format_bytes(transient));
}

}  // namespace vr::train
