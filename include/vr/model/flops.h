// The FLOP model of one training step of an LVLM (forward, backward; the optimizer update is not counted), as
// nanoGPT's model owns its MFU estimate. N = B x M merged tokens, P = LLM matrix parameters (the layers' 2-D
// weights and lm_head), Pt = trainable LLM layer matrix parameters, Pv = vision parameters, Nv = B x images x F
// image patches, L layers, H width, M merged length:
//   LLM forward 2·P·N + attention 4·L·B·M²·H;  backward through activations 2·P·N + 8·L·B·M²·H;
//   weight gradients 2·Pt·N;  gradient checkpointing re-runs the forward;  vision forward 2·Pv·Nv.
// What the step must execute (MFU's numerator, training_step_flop_count): backward through activations only
// from the top down to the lowest trained layer ℓ (nothing below needs an input gradient; the trainable
// projector feeds layer 0, so ℓ = 0 whenever the projector trains): 2·(Ph + (L-ℓ)/L·(P-Ph))·N + 8·(L-ℓ)·B·M²·H,
// with Ph the lm_head's matrix; the recompute of checkpointing is counted apart (HFU's numerator adds it). With
// ℓ = 0 and Ph = 0 (the defaults) both agree with training_step_flops.
#pragma once
#include <cstdint>

namespace vr::model {

struct StepFlopsShape {
  int64_t batch = 0;              // B samples
  int64_t merged_tokens = 0;      // M: text tokens + images x (F - 1)
  int64_t images_per_sample = 0;
  int64_t image_tokens = 0;       // F: patches (merged image features) per image
  int64_t layers = 0, hidden = 0; // L, H
  int64_t llm_matrix_params = 0;        // P
  int64_t trainable_matrix_params = 0;  // Pt
  int64_t vision_params = 0;            // Pv
  bool gradient_checkpointing = false;
  int64_t lm_head_params = 0;          // Ph, part of P
  int64_t lowest_trained_layer = 0;    // ℓ: lowest layer whose input gradient is needed (L: none)
};

// The step's FLOPs by part.
struct StepFlops {
  double llm_forward = 0, llm_backward = 0, vision_forward = 0, recompute = 0;
  double model() const { return llm_forward + llm_backward + vision_forward; }  // MFU: what the step must do
  double hardware() const { return model() + recompute; }                      // HFU: what it does
};
StepFlops training_step_flop_count(const StepFlopsShape& s);

// training_step_flop_count(s).hardware() with backward through every layer (ℓ = 0): `vrtrain bench`'s FLOP/s.
double training_step_flops(const StepFlopsShape& s);

}  // namespace vr::model
