// The one mapping from a RunConfig to the option structs of the library's modules. Every command and the run
// assembly go through these, so a config key means the same thing everywhere (train, bench, score, tests).
#pragma once
#include <cstdint>
#include <vector>

#include "vr/data/dataset.h"
#include "vr/data/loader.h"
#include "vr/model/lora.h"
#include "vr/train/memory_plan.h"
#include "vr/train/run_config.h"
#include "vr/model/tiny_model.h"
#include "vr/train/trainable_params.h"

namespace vr::model {
struct LlamaConfig;
}

namespace vr::train {

struct RunContext;

// data.*: path, image folder, template, bad-record policy, synthetic-shapes size and seed.
data::DatasetOptions dataset_options(const RunConfig& cfg);
// train.batch_size (or `batch_size` when > 0), data.num_workers / model_max_length / grouping, train.seed,
// this process's rank and world size.
data::LoaderOptions loader_options(const RunConfig& cfg, const RunContext& ctx, int64_t batch_size = 0);
// train.stage / method / train_norms / train_embeddings / freeze_vision_tower with the tuned `layers`.
FreezeSpec freeze_spec(const RunConfig& cfg, std::vector<int64_t> layers);
// lora.* on the tuned `layers` (targets named as lora_targets.h does); base model = model.path.
model::LoraConfig lora_config(const RunConfig& cfg, const std::vector<int64_t>& layers);
// The memory plan of a run: shapes of `model`, what trains (`trainable`, stage, LoRA), the micro-batch
// train.batch_size x `tokens` merged tokens (0: data.model_max_length, the longest), dtype, checkpointing,
// grad_accum.
MemoryPlanInputs memory_plan_inputs(const RunConfig& cfg, const model::LvlmConfig& model,
                                    const TrainableSummary& trainable, int64_t tokens);
// model.make_tiny_family / make_tiny_seed.
vr::model::TinyModelOptions tiny_model_options(const RunConfig& cfg);

}  // namespace vr::train
