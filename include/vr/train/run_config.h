// The resolved configuration of one training run: every key of a vrtrain YAML config, bound once in bind()
// (which drives YAML loading, `--set` overrides, --help and the config dump saved with each checkpoint).
// Public contract keys for scripts: model.path, output_dir, train.max_steps, train.seed, selection.strategy,
// selection.layers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vr/core/config.h"
#include "vr/selection/selection.h"

namespace vr::train {

struct ModelSection {
  std::string path;                 // HF llava-hf directory (config.json, model.safetensors, tokenizer, preprocessor)
  std::string make_tiny_family;     // when non-empty and `path` is missing: create a tiny random model there first
  int64_t make_tiny_seed = 0;
};

struct DataSection {
  std::string path = "synthetic-shapes";  // JSON / JSONL file in LLaVA format, or "synthetic-shapes"
  std::string image_folder;
  std::string template_name = "vicuna_v1";  // plain | vicuna_v1 | llama3
  std::string image_aspect_ratio = "pad";    // pad | square
  int64_t model_max_length = 2048;
  bool skip_bad_records = false;
  int64_t num_workers = 2;
  int64_t synthetic_num_samples = 64;
  int64_t synthetic_image_size = 56;
  int64_t synthetic_seed = 0;
  bool group_by_modality_length = false;
  // Sequence packing (docs/packing.md): train.batch_size then counts rows of pack_length merged tokens.
  bool packing = false;
  int64_t pack_length = 0;     // merged tokens per packed row; 0: model_max_length
  int64_t pack_buffer = 1000;  // records per first-fit-decreasing buffer
};

struct TrainSection {
  std::string stage = "sft";         // pretrain | sft | full
  std::string method = "full";       // full | lora (sft only)
  double lr = 2e-5;
  double mm_projector_lr = 2e-5;     // 0: same as lr
  double weight_decay = 0.0;
  double warmup_ratio = 0.03;
  std::string lr_scheduler = "cosine";  // cosine | linear | constant
  int64_t batch_size = 8;            // micro-batch per optimizer micro-step
  int64_t grad_accum = 1;
  double max_grad_norm = 1.0;        // 0: no clipping
  int64_t max_steps = 0;             // optimizer steps; 0: `epochs` epochs
  int64_t epochs = 1;
  bool gradient_checkpointing = false;
  std::string dtype = "fp32";        // fp32 | bf16 (bf16 keeps fp32 master weights for trainable tensors)
  bool train_norms = true;           // sft/full, method full: also train the RMSNorm weights of tuned layers
  bool train_embeddings = false;     // stage full: also train embed_tokens, final norm and lm_head (LLaVA full FT)
  bool train_lm_head = false;        // sft/full: also train lm_head (healing a pruned model; untied lm_head only)
  bool train_projector = true;       // false: the projector stays frozen (healing a pruned model)
  int64_t save_every = 0;            // checkpoint every N optimizer steps (0: only at the end)
  int64_t keep_last = 2;
  int64_t log_every = 1;
  int64_t seed = 42;
  bool freeze_vision_tower = true;
  int64_t num_threads = 0;           // CPU intra-op threads (0: LibTorch default)
  std::string device = "auto";       // auto | cpu | cuda | cuda:N (see vr/core/device.h)
  double peak_tflops = 989.0;        // the GPU's dense bf16 peak for MFU (H100 SXM: 989; A100: 312; H200: 989)
  int64_t stop_after_step = 0;       // debug: exit (code 3) right after this step's checkpoint, as if killed
  bool export_final = true;          // write <output_dir>/final/ as an HF checkpoint at the end
  std::string loss_normalization = "batch";  // batch (mean of micro-batch means) | token (every supervised token
                                             // of the global step, across micro-batches and ranks, weighs the same)
};

// Data parallelism (docs/distributed.md). Rank, world size and master come from the environment (torchrun,
// Slurm, Open MPI, vrtrain launch); the -1 / "" defaults here mean "from the environment".
struct DistSection {
  std::string backend = "auto";  // auto | nccl | gloo
  double init_timeout_s = 300;   // rendezvous, start-up broadcast and the first step
  double timeout_s = 100;        // every later collective
  double bucket_mb = 25;         // gradient bucket cap (MiB of fp32)
  bool overlap = true;           // all-reduce buckets during backward (false: after it; for measurements)
  bool shard_optimizer = false;  // ZeRO: AdamW state partitioned over the ranks (vr/train/optimizer.h)
  int64_t zero_stage = 2;        // with shard_optimizer: 2 reduces every micro-batch, 1 once per step
  int64_t rank = -1, world_size = -1, local_rank = -1;
  std::string master_addr;
  int64_t master_port = -1;
};

struct LoraSection {
  int64_t r = 128;
  double alpha = 256;
  double dropout = 0.05;
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
};

// What a run writes about itself besides metrics.jsonl and the progress lines.
struct LogSection {
  bool tensorboard = true;  // TensorBoard event file in output_dir (train/metrics_tensorboard.h)
};

struct RunConfig : vr::Bindable {
  ModelSection model;
  std::string output_dir = "runs/run";
  std::string resume = "auto";  // auto | never | <checkpoint directory>
  DataSection data;
  TrainSection train;
  LoraSection lora;
  vr::selection::SelectionConfig selection;
  DistSection dist;
  LogSection log;

  void bind(vr::ConfigBinder& b) override;
  // Cross-field checks (ranges, combinations); throws vr::Error naming the key and the problem.
  void validate() const;
};

// The sources of a run's settings, applied in order over a RunConfig: each YAML file, then the command line's
// key=value assignments (--set and flag shorthands) as one source. Within one source a layer list means the
// manual strategy: selection.layers without selection.strategy selects manual; selection.layers with another
// strategy is an error (the list would be ignored); another strategy without selection.layers drops a list an
// earlier source gave for manual (so `--config bunny.yaml --set selection.strategy=uniform` works).
void load_run_config_file(RunConfig& cfg, const std::string& file);
void apply_run_overrides(RunConfig& cfg, const std::vector<std::string>& assignments);

}  // namespace vr::train
