#include "vr/train/run_options.h"

#include "vr/core/torch_compat.h"
#include "vr/model/llama.h"
#include "vr/train/lora_targets.h"
#include "vr/train/run_context.h"
#include "vr/train/train_step.h"

namespace vr::train {

data::DatasetOptions dataset_options(const RunConfig& cfg) {
  data::DatasetOptions d;
  d.path = cfg.data.path;
  d.image_folder = cfg.data.image_folder;
  d.skip_bad_records = cfg.data.skip_bad_records;
  d.template_name = cfg.data.template_name;
  d.synthetic_samples = cfg.data.synthetic_num_samples;
  d.synthetic_image_size = cfg.data.synthetic_image_size;
  d.seed = static_cast<uint64_t>(cfg.data.synthetic_seed);
  return d;
}

data::LoaderOptions loader_options(const RunConfig& cfg, const RunContext& ctx, int64_t batch_size) {
  data::LoaderOptions o;
  o.batch_size = batch_size > 0 ? batch_size : cfg.train.batch_size;
  o.num_workers = cfg.data.num_workers;
  o.seed = ctx.seed;
  o.shuffle = true;
  o.group_by_modality_length = cfg.data.group_by_modality_length;
  o.rank = ctx.rank;
  o.world_size = ctx.world_size;
  o.model_max_length = cfg.data.model_max_length;
  o.drop_last = false;
  o.packing.enabled = cfg.data.packing;
  o.packing.pack_length = cfg.data.pack_length > 0 ? cfg.data.pack_length : cfg.data.model_max_length;
  o.packing.buffer = cfg.data.pack_buffer;  // image_tokens: from the model (run_loader.cpp)
  return o;
}

FreezeSpec freeze_spec(const RunConfig& cfg, std::vector<int64_t> layers) {
  FreezeSpec spec;
  spec.stage = cfg.train.stage;
  spec.method = cfg.train.method;
  spec.layers = std::move(layers);
  spec.train_norms = cfg.train.train_norms;
  spec.train_embeddings = cfg.train.train_embeddings;
  spec.train_lm_head = cfg.train.train_lm_head;
  spec.train_projector = cfg.train.train_projector;
  spec.freeze_vision_tower = cfg.train.freeze_vision_tower;
  return spec;
}

model::LoraConfig lora_config(const RunConfig& cfg, const std::vector<int64_t>& layers) {
  model::LoraConfig lc;
  lc.r = cfg.lora.r;
  lc.alpha = cfg.lora.alpha;
  lc.dropout = cfg.lora.dropout;
  lc.base_model_name_or_path = cfg.model.path;
  lc.target_modules = lora_target_modules(layers, cfg.lora.targets);
  return lc;
}

MemoryPlanInputs memory_plan_inputs(const RunConfig& cfg, const model::LvlmConfig& model,
                                    const TrainableSummary& trainable, int64_t tokens) {
  MemoryPlanInputs mi;
  mi.model = model;
  mi.tuned_layers = trainable.tuned_layers;
  mi.trainable_params = trainable.trainable_numel;
  mi.projector_trainable = cfg.train.train_projector;
  mi.lm_head_trainable = (cfg.train.stage == "full" && cfg.train.train_embeddings) ||
                         (cfg.train.stage != "pretrain" && cfg.train.train_lm_head && !model.text.tie_word_embeddings);
  mi.lora = cfg.train.method == "lora";
  mi.lora_rank = cfg.lora.r;
  mi.lora_dropout = cfg.lora.dropout > 0;
  mi.lora_targets = cfg.lora.targets;
  mi.bytes_per_element = cfg.train.dtype == "bf16" ? 2 : 4;
  mi.batch = cfg.train.batch_size;
  mi.tokens = tokens > 0 ? tokens : cfg.data.model_max_length;
  mi.grad_accum = cfg.train.grad_accum;
  mi.gradient_checkpointing = cfg.train.gradient_checkpointing;
  mi.fused_attention = compat::sdpa_available();  // training runs SDPA where LibTorch has it (prepare_run)
  mi.world_size = cfg.dist.world_size > 0 ? cfg.dist.world_size : 1;  // prepare_run: the run's own
  mi.shard_optimizer = cfg.dist.shard_optimizer;
  mi.zero_stage = cfg.dist.zero_stage;
  mi.bucket_mb = cfg.dist.bucket_mb;
  mi.fp32_gradients = uses_fp32_gradients(cfg.train, cfg.dist, mi.world_size);
  return mi;
}

model::TinyModelOptions tiny_model_options(const RunConfig& cfg) {
  model::TinyModelOptions t;
  t.family = cfg.model.make_tiny_family;
  t.seed = cfg.model.make_tiny_seed;
  return t;
}

}  // namespace vr::train
