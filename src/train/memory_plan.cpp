// Peak training memory from shapes (see memory_plan.h for the model and its symbols).
#include "vr/train/memory_plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "vr/core/error.h"
#include "vr/core/progress.h"
#include "vr/distributed/gradient_reducer.h"
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
// Of the E·H part, the post-attention RMSNorm's share (per the table above: fp32 trained x, normed, out; fp32
// frozen x; bf16 the fp32 copy and pow, + normed and out when trained): released by the MLP's backward.
double mlp_norm_bytes(bool fp32, bool trained) {
  if (fp32) return trained ? 12.0 : 4.0;
  return trained ? 12.0 : 8.0;
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

// The plan's arithmetic for one set of inputs: the shapes as doubles (symbols of memory_plan.h), the persistent
// terms, one decoder layer's sets, the tensors around the stack, then the phases, each a candidate for the peak.
class Planner {
 public:
  explicit Planner(const MemoryPlanInputs& in) : in_(in), t_(in.model.text), v_(in.model.vision) {
    VR_CHECK(in.batch > 0 && in.tokens > 0, "memory plan: batch and tokens must be positive");
    s = static_cast<double>(in.bytes_per_element);
    fp32 = in.bytes_per_element >= 4;
    B = static_cast<double>(in.batch), T = static_cast<double>(in.tokens), E = B * T;
    H = static_cast<double>(t_.hidden_size), I = static_cast<double>(t_.intermediate_size);
    nH = static_cast<double>(t_.num_attention_heads), V = static_cast<double>(t_.vocab_size);
    D = static_cast<double>(t_.resolved_head_dim());
    Hkv = static_cast<double>(t_.num_key_value_heads) * D;
    P = B * nH * T * T;
    L = t_.num_hidden_layers;
    W = static_cast<double>(std::max<int64_t>(in.world_size, 1));
    trainable = static_cast<double>(in.trainable_params);
    zero = in.shard_optimizer && W > 1;
    zero2 = zero && in.zero_stage == 2;
    grad_s = in.fp32_gradients ? 4.0 : s;  // bytes per element of .grad()
    input_bytes = E * H * s;
  }

  MemoryPlan run() {
    persistent_terms();
    layer_gradients();
    around_the_stack();
    forward_phases();
    backward_phase();
    optimizer_phase();
    return m_;
  }

 private:
  void persistent_terms() {
    m_.weights = static_cast<double>(in_.model.num_parameters()) * s;
    m_.optimizer = zero ? trainable * 12.0 / W : trainable * (8.0 + (fp32 ? 0.0 : 4.0));
    // ZeRO: the fp32 buffers of the buckets in flight (kMaxBucketsInFlight sent, one filling) and the autograd
    // gradients of one bucket not yet freed; they stand in for the full gradients during each reducing backward.
    const double bucket = std::min(trainable, in_.bucket_mb * 1024 * 1024 / 4);
    in_flight = std::min(trainable, static_cast<double>(distributed::kMaxBucketsInFlight + 1) * bucket) * 4.0 +
                bucket * grad_s;
    // ZeRO-2 holds nothing more; otherwise .grad() of every trainable element (all of the step with
    // grad_accum > 1).
    m_.gradients = zero2 ? in_flight : trainable * grad_s;
    // Replicated: the fp32 buckets, all run long. ZeRO: the fp32 gradient partition.
    m_.communication = W <= 1 ? 0.0 : zero ? trainable * 4.0 / W : trainable * 4.0;
  }

  // Gradients per tuned layer: LoRA adapters r·(in + out) per target; else the layer's share of the trainable
  // elements outside the projector and lm_head. Which layers are tuned, and the lowest one gradients reach.
  void layer_gradients() {
    proj_params = in_.projector_trainable ? static_cast<double>(model::projector_num_parameters(
                                                in_.model.projector_type, v_.hidden_size, t_.hidden_size))
                                          : 0.0;
    head_params = in_.lm_head_trainable ? V * H : 0.0;
    k = static_cast<double>(in_.tuned_layers.size());
    for (const auto& target : in_.lora_targets) {
      lora_params_per_layer += static_cast<double>(in_.lora_rank * (in_features(target, t_) + out_features(target, t_)));
      lora_in += static_cast<double>(in_features(target, t_));
      if (target == "o_proj" || target == "gate_proj" || target == "up_proj" || target == "down_proj") {
        lora_in_late += static_cast<double>(in_features(target, t_));  // backward runs before the softmax's
        lora_late += 1;
      }
    }
    if (in_.lora) m_.weights += k * lora_params_per_layer * s;  // the adapters themselves
    layer_grad = k == 0 ? 0.0
                        : (zero ? 4.0 : grad_s) *
                              (in_.lora ? lora_params_per_layer
                                        : std::max(0.0, trainable - proj_params - head_params) / k);
    tuned.assign(static_cast<size_t>(std::max<int64_t>(L, 0)), false);
    for (auto i : in_.tuned_layers)
      if (i >= 0 && i < L) tuned[static_cast<size_t>(i)] = true;
    // Gradients reach layer i when anything below it trains (the projector feeds layer 0's input).
    first_grad_layer = in_.projector_trainable ? 0 : L;
    for (int64_t i = 0; i < L; ++i)
      if (tuned[static_cast<size_t>(i)]) {
        first_grad_layer = std::min(first_grad_layer, i);
        break;
      }
  }

  // ---- one decoder layer -----------------------------------------------------------------------------------
  // Its saved set (what its backward needs), without its input h.
  double layer_set(int64_t i) const {
    const bool trained = tuned[static_cast<size_t>(i)] && !in_.lora;
    const LayerBytes c = layer_bytes(fp32, trained);
    double bytes = c.eh * E * H + c.ei * E * I + c.p * P;
    if (in_.fused_attention)  // no P but the kernel's log-sum-exp; K/V not repeated (2·E·Hkv, not 2·E·H); output kept
      bytes += -c.p * P + B * nH * T * 4.0 + s * E * (2.0 * Hkv - 2.0 * H + H);
    if (in_.lora && tuned[static_cast<size_t>(i)]) {
      // Adapter inputs (dropout output and its mask, or x itself), and x·A [E, r] per target.
      bytes += E * lora_in * s * (in_.lora_dropout ? 2.0 : 1.0) +
               E * static_cast<double>(in_.lora_rank * static_cast<int64_t>(in_.lora_targets.size())) * s;
    }
    return bytes;
  }
  // The part of the set that the MLP's backward (which runs first) releases: gate, silu, up, gate·up (b·E·I) and
  // the post-attention norm's tensors (x, its fp32 copy, normed, output: kMlpNormBytes·E·H).
  // With LoRA, the adapters of o_proj and the MLP go too (their inputs, dropout masks and x·A).
  double mlp_part(int64_t i) const {
    const bool trained = tuned[static_cast<size_t>(i)] && !in_.lora;
    double bytes = layer_bytes(fp32, trained).ei * E * I + mlp_norm_bytes(fp32, trained) * E * H;
    if (in_.lora && tuned[static_cast<size_t>(i)])
      bytes += E * lora_in_late * s * (in_.lora_dropout ? 2.0 : 1.0) +
               E * static_cast<double>(in_.lora_rank) * lora_late * s;
    return bytes;
  }
  // Held from the layer's forward until its backward: the set, and in fp32 the input too (RMSNorm's pow saves h
  // itself; in bf16 it saves the fp32 copy, which is in the set). Checkpointing keeps the input only.
  double kept(int64_t i) const {
    if (i < first_grad_layer) return 0.0;
    if (in_.gradient_checkpointing) return input_bytes;
    return layer_set(i) + (fp32 ? input_bytes : 0.0);
  }
  // The layer's backward, on top of what lies below it (measured order of LibTorch's engine, saved tensors
  // released as each node finishes):
  //  - MLP first: the whole set is still held, plus down_proj's input gradient and the two of gate·up [E,I]·3s;
  //  - then attention: the MLP part is gone; eager keeps the fp32 softmax output 4P (bf16: its bf16 cast, 2P, is
  //    released with probs·V's node) and adds the probabilities' gradient and the softmax's (8P: fp32, or bf16
  //    upcast to fp32); fused attention adds dq, dk, dv and the kernel's fp32 dq accumulator.
  //  - throughout: the incoming gradient and the residual branch's [E,H] (2·E·H·s).
  double layer_backward(int64_t i) const {
    const double set = layer_set(i) + (fp32 ? input_bytes : 0.0);
    const double mlp = set + 3.0 * E * I * s;
    const double attn = in_.fused_attention ? set - mlp_part(i) + (E * H + 2.0 * E * Hkv) * s + E * H * 4.0
                                            : set - mlp_part(i) - (fp32 ? 0.0 : 2.0 * P) + 8.0 * P;
    return std::max(mlp, attn) + 2.0 * E * H * s;
  }

  // ---- around the stack ------------------------------------------------------------------------------------
  void around_the_stack() {
    // Eager attention builds the dense additive mask [B,1,T,T] (s) for the forward; checkpointing saves it, and
    // the RoPE cos/sin [B,T,D] (s each), as inputs of every checkpointed layer, so they stay until the backward
    // ends.
    mask = (in_.fused_attention ? 0.0 : B * T * T * s) + 2.0 * B * T * D * s;
    // Projector (trainable: its input, linear_1 output and GELU output); the final norm (frozen weight: the fp32
    // input and its copies); the loss.
    const double n_img = B * static_cast<double>(in_.images_per_sample);
    const double F = static_cast<double>(in_.model.image_seq_length());
    proj_kept = in_.projector_trainable ? n_img * F * (static_cast<double>(v_.hidden_size) + 2.0 * H) * s : 0.0;
    norm_kept = (in_.lm_head_trainable ? (fp32 ? 12.0 : 10.0) : 8.0) * E * H;
    const double N = in_.supervised_tokens > 0 ? static_cast<double>(in_.supervised_tokens) : E;
    if (in_.full_logits) {
      loss_kept = E * V * (8.0 + (fp32 ? 0.0 : s));  // logits (+ fp32 copy), log_softmax output
      loss_tr = 2.0 * E * V * 4.0;                    // its gradient and the upcast one
    } else {
      // lm_loss.cpp: dL/dh [N,H] is kept (and dL/dW in fp32 when lm_head trains). One chunk of C rows holds its
      // fp32 logits and logsumexp's fp32 (logits − max) temporary: 8·C·V bytes (bf16: the bf16 product, s·C·V,
      // is gone by then); plus the gathered rows h [N,H] and, for a trainable bf16 lm_head, the chunk's dW.
      const double C = std::min(N, static_cast<double>(in_.loss_chunk_rows > 0
                                                           ? in_.loss_chunk_rows
                                                           : model::default_loss_chunk_rows(t_.vocab_size)));
      loss_kept = N * H * s + (in_.lm_head_trainable ? V * H * 4.0 : 0.0);
      loss_tr = N * H * s + 8.0 * C * V + (in_.lm_head_trainable && !fp32 ? V * H * s : 0.0);
    }
    // The frozen vision tower runs without a graph: one layer's working set at a time (tokens F+1 incl. CLS).
    const double Fv = F + 1, Iv = static_cast<double>(v_.intermediate_size);
    Dv = static_cast<double>(v_.hidden_size);
    vision_tr = n_img * Fv * (6.0 * Dv + 2.0 * Iv) * s +
                n_img * static_cast<double>(v_.num_attention_heads) * Fv * Fv * (2.0 * s + 4.0);
    stat = m_.weights + m_.optimizer + m_.communication;
    accum_grads = in_.grad_accum > 1 && !zero2 ? m_.gradients : 0.0;  // held across micro-batches
    for (int64_t i = 0; i < L; ++i) stack += kept(i);
    // The mask and RoPE tables outlive the forward only when checkpointing saved them (else they go with it).
    mask_kept = in_.gradient_checkpointing ? mask : 0.0;
    m_.activations = stack + proj_kept + norm_kept + loss_kept + mask_kept;
  }

  void consider(double total, double transient, const std::string& phase) {
    if (total > m_.peak) {
      m_.peak = total;
      m_.transient = transient;
      m_.peak_phase = phase;
    }
  }

  // ---- the phases ------------------------------------------------------------------------------------------
  void forward_phases() {
    consider(stat + accum_grads + vision_tr, vision_tr, "vision tower forward");
    // Forward: every layer's kept set, then the loss. The top layer's own forward peaks below that level plus its
    // attention scores: without checkpointing 4P bytes beyond what stays (the scores a local still holds, P·s,
    // and the fp32 softmax input or output); a checkpointed layer runs without a graph and keeps none of it, so
    // all of scores (P·s), the fp32 softmax input (bf16: 4P) and output (4P) are on top, with q, K, V and the
    // norm's output (5·E·H·s).
    m_.forward_end = stat + accum_grads + m_.activations;
    const double attn_fwd = in_.fused_attention         ? 0.0
                            : in_.gradient_checkpointing ? (fp32 ? 8.0 : 10.0) * P + 5.0 * E * H * s
                                                        : 4.0 * P;
    const double fwd_tr = std::max(loss_tr, attn_fwd) + (mask - mask_kept);
    m_.forward_peak = m_.forward_end + fwd_tr;
    consider(m_.forward_peak, fwd_tr, "end of forward (loss)");
  }

  // Backward, top layer first: the layers below i still hold their kept sets (checkpointing: their inputs, plus
  // the mask and RoPE tables it saved), gradients of tuned layers >= i exist; layer i's set is rebuilt by the
  // recompute under checkpointing.
  void backward_phase() {
    const double bwd_held = proj_kept + mask_kept;
    double below = stack, grads_done = head_params * s;
    for (int64_t i = L - 1; i >= first_grad_layer; --i) {
      below -= kept(i);
      if (tuned[static_cast<size_t>(i)]) grads_done += layer_grad;
      // Checkpointing saved the input h; in fp32 the recompute's set names the same storage (counted there).
      const double own = in_.gradient_checkpointing && !fp32 ? input_bytes : 0.0;
      const double tr = layer_backward(i);
      const double grads = zero ? std::min(grads_done, in_flight) : grads_done;  // ZeRO: retired as it goes
      const double total = stat + std::max(grads, accum_grads) + below + own + bwd_held + tr;
      m_.backward_peak = std::max(m_.backward_peak, total);
      consider(total, tr, fmt::format("backward of layer {}", i));
    }
  }

  // Optimizer step: every gradient, plus fp32 temporaries (upcast gradient, sqrt, denominator) of the largest
  // trainable tensor. ZeRO: the step updates the partition (its gradient is in `communication`); the full
  // gradients are gone and one bucket at a time is all-gathered afterwards.
  void optimizer_phase() {
    double largest = std::max(in_.lm_head_trainable ? V * H : 0.0, in_.projector_trainable ? H * std::max(H, Dv) : 0.0);
    if (k > 0) largest = std::max(largest, in_.lora ? static_cast<double>(in_.lora_rank) * std::max(H, I) : H * I);
    const double step_grads = zero ? 0.0 : m_.gradients;
    const double gather = zero ? std::min(trainable, in_.bucket_mb * 1024 * 1024 / 4) * 4.0 : 0.0;
    const double step_tr = 3.0 * (zero ? std::min(largest, trainable / W) : largest) * 4.0 + gather;
    m_.optimizer_peak = stat + step_grads + step_tr;
    consider(m_.optimizer_peak, step_tr, "optimizer step");
  }

  const MemoryPlanInputs& in_;
  const model::LlamaConfig& t_;
  const model::VisionConfig& v_;
  // Shapes and sizes (memory_plan.h's symbols).
  double s = 0, B = 0, T = 0, E = 0, H = 0, I = 0, nH = 0, V = 0, D = 0, Hkv = 0, P = 0, W = 1;
  double trainable = 0, grad_s = 0, input_bytes = 0;
  bool fp32 = true, zero = false, zero2 = false;
  double in_flight = 0;  // ZeRO: gradient bytes of the buckets in flight
  int64_t L = 0;
  // Trainable pieces.
  double proj_params = 0, head_params = 0, k = 0, layer_grad = 0;
  double lora_params_per_layer = 0, lora_in = 0, lora_in_late = 0, lora_late = 0;
  std::vector<bool> tuned;
  int64_t first_grad_layer = 0;
  // Around the stack.
  double mask = 0, mask_kept = 0, proj_kept = 0, norm_kept = 0, loss_kept = 0, loss_tr = 0, vision_tr = 0, Dv = 0;
  double stat = 0, accum_grads = 0, stack = 0;
  MemoryPlan m_;
};

}  // namespace

MemoryPlan plan_memory(const MemoryPlanInputs& in) { return Planner(in).run(); }

std::string MemoryPlan::fits(double device_bytes, double reserve_bytes) const {
  const double left = device_bytes - reserve_bytes - peak;
  auto bytes = [](double b) { return vr::format_bytes(static_cast<uint64_t>(std::max(0.0, b))); };
  return left >= 0 ? fmt::format("fits {} with {} to spare", bytes(device_bytes), bytes(left))
                   : fmt::format("does not fit {} ({} over)", bytes(device_bytes), bytes(-left));
}

std::string MemoryPlan::table() const {
  auto format_bytes = [](double b) { return vr::format_bytes(static_cast<uint64_t>(std::max(0.0, b))); };
  return fmt::format(
      "  weights      {:>12}\n  optimizer    {:>12}  (AdamW moments, fp32 masters for non-fp32 weights)\n"
      "  gradients    {:>12}\n{}  activations  {:>12}  (kept for backward at the end of the forward)\n"
      "  phases       held after forward {}, forward peak {}, backward peak {}, optimizer step peak {}\n"
      "  peak         {:>12}  at {} (working set there {}); CUDA context and allocator slack not included\n",
      format_bytes(weights), format_bytes(optimizer), format_bytes(gradients),
      communication > 0 ? fmt::format("  buckets      {:>12}  (data parallel: fp32 gradient buckets, or the ZeRO "
                                      "gradient partition)\n", format_bytes(communication))
                        : std::string(),
      format_bytes(activations),
      format_bytes(forward_end), format_bytes(forward_peak), format_bytes(backward_peak),
      format_bytes(optimizer_peak), format_bytes(peak), peak_phase, format_bytes(transient));
}

}  // namespace vr::train
