// The FLOP model of one training step of an LVLM (forward, backward; the optimizer update is not counted), as
// nanoGPT's model owns its MFU estimate. N = B x M merged tokens, P = LLM matrix parameters (the layers' 2-D
// weights and lm_head), Pt = trainable LLM layer matrix parameters, Pv = vision parameters, Nv = B x images x F
// image patches, L layers, H width, M merged length:
//   LLM forward 2·P·N + attention 4·L·B·M²·H;  backward through activations 2·P·N + 8·L·B·M²·H;
//   weight gradients 2·Pt·N;  gradient checkpointing re-runs the forward;  vision forward 2·Pv·Nv.
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
};

double training_step_flops(const StepFlopsShape& s);

}  // namespace vr::model
