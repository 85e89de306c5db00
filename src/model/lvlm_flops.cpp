#include "vr/model/lvlm_flops.h"

#include <algorithm>
#include <string>

#include "vr/model/flops.h"
#include "vr/model/lvlm.h"

namespace vr::model {

double lvlm_step_model_flops(const LvlmImpl& model, int64_t tokens, int64_t samples, int64_t images) {
  const LvlmConfig& c = model.config();
  StepFlopsShape s;
  s.batch = 1;  // all tokens as one row of N; attention from the mean length below
  s.merged_tokens = tokens;
  s.layers = c.text.num_hidden_layers;
  s.hidden = c.text.hidden_size;
  s.lm_head_params = c.text.vocab_size * c.text.hidden_size;
  s.lowest_trained_layer = s.layers;
  int64_t matrices = 0, trainable = 0;
  for (const auto& kv : model.language_model->named_parameters()) {
    const at::Tensor& p = kv.value();
    if (p.dim() == 2 && kv.key().find("embed_tokens") == std::string::npos) matrices += p.numel();
    if (!p.requires_grad()) continue;
    if (p.dim() == 2) trainable += p.numel();
    const auto at = kv.key().find("layers.");
    if (at != std::string::npos)
      s.lowest_trained_layer = std::min<int64_t>(s.lowest_trained_layer, std::stoll(kv.key().substr(at + 7)));
  }
  for (const auto& kv : model.multi_modal_projector->named_parameters())
    if (kv.value().requires_grad()) s.lowest_trained_layer = 0;  // its gradient flows back through every layer
  if (c.text.tie_word_embeddings) matrices += s.lm_head_params;  // lm_head multiplies by embed_tokens
  s.llm_matrix_params = matrices;
  s.trainable_matrix_params = trainable;
  StepFlops f = training_step_flop_count(s);
  // Attention with rows of the mean length M = N / samples: 4·L·N·M·H, not 4·L·N²·H.
  const double N = static_cast<double>(tokens), M = N / static_cast<double>(samples);
  const double attn_one_row = 4.0 * static_cast<double>(s.layers) * N * N * static_cast<double>(s.hidden);
  const double attn = attn_one_row * M / N;
  const double above = s.layers > 0 ? static_cast<double>(s.layers - s.lowest_trained_layer) / s.layers : 0.0;
  f.llm_forward += attn - attn_one_row;
  f.llm_backward += 2.0 * above * (attn - attn_one_row);
  f.vision_forward = 2.0 * static_cast<double>(c.vision.num_parameters()) * static_cast<double>(images) *
                     static_cast<double>(c.image_seq_length());
  return f.model();
}

}  // namespace vr::model
