// The memory plan (train/memory_plan.h) against the measured peak RSS of tiny CPU training steps, and the
// Bunny-Llama-3-8B-V configuration the paper tunes, from shapes only.
#include "vr/train/memory_plan.h"

#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "vr/core/process_memory.h"
#include "vr/model/lvlm.h"
#include "vr/model/model_configs.h"
#include "vr/model/projector.h"
#include "vr/train/metrics.h"
#include "vr/train/optimizer.h"
#include "vr/train/trainable_params.h"

using namespace vr::train;

namespace {

// A small LLaVA whose memory is dominated by the terms the plan models: 4 layers, H 256, GQA, vocab 8192,
// a 56 px CLIP tower (16 image features).
vr::model::LvlmConfig small_lvlm() {
  vr::model::LvlmConfig c;
  auto& t = c.text;
  t.vocab_size = 8192;
  t.hidden_size = 256;
  t.intermediate_size = 704;
  t.num_hidden_layers = 4;
  t.num_attention_heads = 4;
  t.num_key_value_heads = 2;
  t.max_position_embeddings = 1024;
  c.vision = vr::model::VisionConfig::clip_defaults();
  c.vision.hidden_size = 32;
  c.vision.intermediate_size = 64;
  c.vision.num_hidden_layers = 2;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 56;
  c.vision.patch_size = 14;
  c.vision.projection_dim = 32;
  c.vision_feature_select = "patch";
  c.image_token_index = vr::model::kLlavaImageTokenIndex;
  return c;
}

struct Measured {
  double peak = 0;  // bytes above the RSS before the model existed
};

// Builds the model and its AdamW, then runs two steps (forward, backward, optimizer step, zero_grad) on a
// batch of B rows of T merged tokens with every text position supervised. Peak RSS is measured from a reset
// high-water mark (/proc/self/clear_refs "5") after returning freed heap memory to the OS (malloc_trim), so the
// memory other tests left in this process does not hide ours.
Measured run_steps(const vr::model::LvlmConfig& c, const std::vector<int64_t>& tuned, at::ScalarType dtype,
                   bool checkpointing, int64_t B, int64_t T, MemoryPlanInputs* plan_in) {
  malloc_trim(0);
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const int64_t base = vr::current_rss_bytes();
  Measured r;
  {
    torch::manual_seed(1);
    const auto previous = c10::get_default_dtype();
    c10::set_default_dtype(c10::scalarTypeToTypeMeta(dtype));
    vr::model::Lvlm m(c);
    c10::set_default_dtype(previous);
    FreezeSpec spec;
    spec.layers = tuned;
    auto summary = apply_freeze(*m, spec);
    m->language_model->set_gradient_checkpointing(checkpointing);
    m->train();
    ParamGroup g;
    g.name = "all";
    g.lr = 1e-4;
    for (auto& kv : m->named_parameters())
      if (kv.value().requires_grad()) {
        g.names.push_back(kv.key());
        g.params.push_back(kv.value());
      }
    AdamW opt({g});
    const int64_t F = c.image_seq_length(), S = c.vision.image_size;
    auto ids = torch::randint(3, c.text.vocab_size, {B, T - F + 1}, torch::kInt64);
    ids.select(1, 1).fill_(vr::model::kLlavaImageTokenIndex);
    vr::model::LvlmInputs in;
    in.input_ids = ids;
    in.labels = ids.masked_fill(ids.lt(0), -100);
    in.pixel_values = torch::randn({B, 3, S, S}).to(dtype);
    in.return_logits = false;  // as training (LvlmTask)
    for (int step = 0; step < 2; ++step) {
      auto out = m->forward(in);
      out.loss.backward();
      opt.step(1.0);
      opt.zero_grad();
    }
    r.peak = static_cast<double>(vr::peak_rss_bytes() - base);
    plan_in->model = c;
    plan_in->tuned_layers = summary.tuned_layers;
    plan_in->trainable_params = summary.trainable_numel;
    plan_in->bytes_per_element = dtype == at::kFloat ? 4 : 2;
    plan_in->batch = B;
    plan_in->tokens = T;
    plan_in->supervised_tokens = B * (T - F - 1);  // text positions after the BOS predict the next token
    plan_in->gradient_checkpointing = checkpointing;
  }
  return r;
}

}  // namespace

// Measured on this CPU with one thread (LibTorch 1.13): the plan falls 25-40 % short of the measured peak RSS
// (backward temporaries it does not model, glibc heap retention). The test holds it to that band: never more than
// 5 % above the measurement, never less than half of it. The errors of each case are printed.
TEST(MemoryPlan, PredictsThePeakRssOfTinyCpuSteps) {
  at::set_num_threads(1);
  struct Case {
    const char* name;
    std::vector<int64_t> tuned;
    at::ScalarType dtype;
    bool ckpt;
    int64_t B, T;
  };
  const std::vector<Case> cases = {
      {"fp32 selective (layers 1,2)", {1, 2}, at::kFloat, false, 4, 384},
      {"fp32 selective + checkpointing", {1, 2}, at::kFloat, true, 4, 384},
      {"fp32 full", {0, 1, 2, 3}, at::kFloat, false, 4, 384},
      {"bf16 selective (layers 1,2)", {1, 2}, at::kBFloat16, false, 2, 384},
  };
  for (const auto& k : cases) {
    MemoryPlanInputs in;
    const Measured got = run_steps(small_lvlm(), k.tuned, k.dtype, k.ckpt, k.B, k.T, &in);
    const MemoryPlan plan = plan_memory(in);
    const double err = (plan.peak - got.peak) / got.peak;
    std::printf("[memory plan] %-32s measured %10s  planned %10s  error %+.1f%%  (peak at %s)\n", k.name,
                format_bytes(got.peak).c_str(), format_bytes(plan.peak).c_str(), 100 * err, plan.peak_phase.c_str());
    EXPECT_LT(err, 0.05) << k.name << "\n" << plan.table();
    EXPECT_GT(err, -0.5) << k.name << "\n" << plan.table();
  }
}

// Bunny-Llama-3-8B-V (SigLIP-so400m-384 + Llama-3-8B), 25 % selective tuning (8 of 32 layers, method full, norms
// included, projector), bf16 with fp32 AdamW state, gradient checkpointing, micro-batch 8 x 2048 merged tokens:
// one 80 GB GPU by the plan, with 1 GiB for the CUDA context and 5 % allocator slack on top of the peak.
TEST(MemoryPlan, BunnyLlama3_8bSelectiveBf16CheckpointedFitsOne80GbGpu) {
  const auto c = vr::model::named_lvlm_config("bunny-llama-3-8b-v");
  const auto& t = c.text;
  const int64_t layer_params = (t.num_parameters() - 2 * t.vocab_size * t.hidden_size - t.hidden_size) /
                               t.num_hidden_layers;
  EXPECT_EQ(layer_params, 218112000);  // Llama-3-8B: 4096·(4096+1024+1024+4096) + 3·4096·14336 + 2·4096
  MemoryPlanInputs in;
  in.model = c;
  in.tuned_layers = {2, 6, 10, 14, 18, 22, 26, 30};
  in.trainable_params = 8 * layer_params + vr::model::projector_num_parameters("mlp2x_gelu", 1152, 4096);
  in.bytes_per_element = 2;
  in.batch = 8;
  in.tokens = 2048;
  in.gradient_checkpointing = true;
  for (bool fused : {false, true}) {
    in.fused_attention = fused;
    const MemoryPlan p = plan_memory(in);
    std::printf("[memory plan] Bunny-8B 25%% bf16 ckpt 8x2048 %s attention:\n%s", fused ? "fused" : "eager",
                p.table().c_str());
    EXPECT_LT(p.peak * 1.05 + (1ull << 30), 80e9) << (fused ? "fused" : "eager");
    EXPECT_GT(p.peak, p.weights + p.optimizer);
  }
  // Without checkpointing the activations alone exceed the GPU: checkpointing is what makes it fit.
  in.gradient_checkpointing = false;
  in.fused_attention = false;
  EXPECT_GT(plan_memory(in).peak, 80e9);
}
