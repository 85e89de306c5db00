#include "vr/train/run_config.h"

#include <cmath>
#include <functional>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vr/core/error.h"

namespace vr::train {

namespace {

// Applies one source and tells which of selection.strategy / selection.layers it set, by starting both from
// values no config can hold and restoring the ones the source left alone.
void apply_source(RunConfig& cfg, const std::string& source, const std::function<void()>& apply) {
  auto& sel = cfg.selection;
  const std::string strategy = sel.strategy;
  const std::vector<int64_t> layers = sel.layers;
  const std::string kUnsetStrategy = "\x01unset";
  const std::vector<int64_t> kUnsetLayers{std::numeric_limits<int64_t>::min()};
  sel.strategy = kUnsetStrategy;
  sel.layers = kUnsetLayers;
  try {
    apply();
  } catch (...) {
    sel.strategy = strategy;
    sel.layers = layers;
    throw;
  }
  const bool set_strategy = sel.strategy != kUnsetStrategy, set_layers = sel.layers != kUnsetLayers;
  if (!set_strategy) sel.strategy = strategy;
  if (!set_layers) sel.layers = layers;
  if (set_layers && !sel.layers.empty()) {
    if (!set_strategy) sel.strategy = "manual";  // a layer list means manual
    VR_CHECK(sel.strategy == "manual",
             "{}: selection.layers [{}] is a list for selection.strategy=manual, but the strategy given with it is "
             "'{}' (the list would be ignored): drop one of the two",
             source, fmt::join(sel.layers, ", "), sel.strategy);
  } else if (set_strategy && !set_layers && sel.strategy != "manual") {
    sel.layers.clear();  // a manual list of an earlier source does not apply to the new strategy
  }
}

}  // namespace

void load_run_config_file(RunConfig& cfg, const std::string& file) {
  apply_source(cfg, file, [&] { vr::load_yaml_config(cfg, file); });
}

void apply_run_overrides(RunConfig& cfg, const std::vector<std::string>& assignments) {
  apply_source(cfg, "command line", [&] { vr::apply_overrides(cfg, assignments); });
}

namespace {

// The keys of each section, in the order --help and the docs list them.
void bind_data(vr::ConfigBinder& b, DataSection& data) {
  b.field("data.path", data.path, "training data: a LLaVA-format JSON/JSONL file, or synthetic-shapes");
  b.field("data.image_folder", data.image_folder, "folder the records' image paths are relative to");
  b.choice("data.template", data.template_name, {"plain", "vicuna_v1", "llava_v1", "llama3"},
           "conversation template (plain for pretrain, vicuna_v1 for LLaVA-1.5, llama3 for Bunny-Llama-3)");
  b.choice("data.image_aspect_ratio", data.image_aspect_ratio, {"pad", "square"},
           "pad: expand to a square with the mean colour (sft); square: processor only (pretrain)");
  b.field("data.model_max_length", data.model_max_length, "truncate merged sequences to this many tokens");
  b.field("data.skip_bad_records", data.skip_bad_records, "skip unreadable records instead of stopping");
  b.field("data.num_workers", data.num_workers, "background threads preparing batches");
  b.field("data.synthetic.num_samples", data.synthetic_num_samples, "synthetic-shapes: dataset size");
  b.field("data.synthetic.image_size", data.synthetic_image_size, "synthetic-shapes: image side in pixels");
  b.field("data.synthetic.seed", data.synthetic_seed, "synthetic-shapes: seed of the generated samples");
  b.field("data.group_by_modality_length", data.group_by_modality_length,
          "batch image and text-only samples separately (LLaVA's sampler; not used with data.packing)");
  b.field("data.packing", data.packing,
          "pack several samples per row (first-fit-decreasing; each sample attends to itself only); "
          "train.batch_size then counts packed rows");
  b.field("data.pack_length", data.pack_length,
          "merged tokens (text + image slots) per packed row; 0: data.model_max_length");
  b.field("data.pack_buffer", data.pack_buffer, "records shuffled together and packed by first-fit-decreasing");
}

void bind_train(vr::ConfigBinder& b, TrainSection& train) {
  b.choice("train.stage", train.stage, {"pretrain", "sft", "full"},
           "pretrain: projector only; sft: projector + selected layers; full: projector + all LLM layers");
  b.choice("train.method", train.method, {"full", "lora"},
           "how tuned LLM layers train: all their tensors (full) or LoRA adapters on their 7 projections");
  b.field("train.lr", train.lr, "peak learning rate of the LLM parameters (or LoRA adapters)");
  b.field("train.mm_projector_lr", train.mm_projector_lr, "peak learning rate of the projector (0: train.lr)");
  b.field("train.weight_decay", train.weight_decay,
          "AdamW decoupled weight decay (never applied to norms and biases)");
  b.field("train.warmup_ratio", train.warmup_ratio, "linear warmup over ceil(ratio * total steps) steps");
  b.choice("train.lr_scheduler", train.lr_scheduler, {"cosine", "linear", "constant"},
           "learning-rate decay after warmup (HF semantics)");
  b.field("train.batch_size", train.batch_size, "samples per micro-batch (packed rows with data.packing)");
  b.field("train.grad_accum", train.grad_accum, "micro-batches per optimizer step");
  b.field("train.max_grad_norm", train.max_grad_norm, "clip the global gradient L2 norm to this (0: no clipping)");
  b.field("train.max_steps", train.max_steps, "optimizer steps to run (0: train.epochs full epochs)");
  b.field("train.epochs", train.epochs, "epochs when train.max_steps is 0");
  b.field("train.gradient_checkpointing", train.gradient_checkpointing,
          "recompute each decoder layer's activations in backward (less memory, ~30% more compute)");
  b.choice("train.dtype", train.dtype, {"fp32", "bf16"},
           "compute dtype; bf16 keeps fp32 master weights and optimizer state for trainable tensors");
  b.field("train.train_norms", train.train_norms,
          "method full: also train the two RMSNorm weights of each tuned layer");
  b.field("train.train_embeddings", train.train_embeddings,
          "stage full: also train embed_tokens, the final norm and lm_head (as LLaVA's full fine-tuning does)");
  b.field("train.train_lm_head", train.train_lm_head,
          "sft/full: also train lm_head (as healing a pruned model does; a tied lm_head is embed_tokens and stays "
          "frozen)");
  b.field("train.train_projector", train.train_projector,
          "train the multimodal projector (every stage does by default; healing a pruned model turns it off)");
  b.field("train.save_every", train.save_every, "write a resumable checkpoint every N steps (0: only at the end)");
  b.field("train.keep_last", train.keep_last, "keep this many most recent checkpoints");
  b.field("train.log_every", train.log_every, "print a progress line every N steps");
  b.field("train.seed", train.seed, "seed of initialisation (LoRA), dropout and data order");
  b.field("train.freeze_vision_tower", train.freeze_vision_tower, "keep the vision tower frozen");
  b.field("train.num_threads", train.num_threads,
          "CPU threads (LibTorch + OpenBLAS); 0: LibTorch's default count, or cores / local ranks under data parallelism");
  b.field("train.peak_tflops", train.peak_tflops,
          "the GPU's peak TFLOP/s the MFU in metrics.jsonl divides by (dense bf16: H100/H200 SXM 989, A100 312)");
  b.field("train.device", train.device,
          "auto (cuda:LOCAL_RANK when a GPU is visible, else cpu) | cpu | cuda | cuda:N; CUDA asked for where "
          "there is none is an error");
  b.field("train.stop_after_step", train.stop_after_step,
          "debug: stop with exit code 3 right after this step (and its checkpoint), as if killed");
  b.field("train.export_final", train.export_final, "export <output_dir>/final/ (HF layout) at the end");
  b.choice("train.loss_normalization", train.loss_normalization, {"batch", "token"},
           "batch: mean of the micro-batch means (HF Trainer); token: every supervised token of the global step "
           "(all micro-batches and ranks) weighs the same");
}

void bind_dist(vr::ConfigBinder& b, DistSection& dist) {
  b.choice("dist.backend", dist.backend, {"auto", "nccl", "gloo"},
           "data-parallel backend (auto: nccl when the model is on CUDA, else gloo)");
  b.field("dist.init_timeout_s", dist.init_timeout_s, "seconds for rendezvous, start-up broadcast and the first step");
  b.field("dist.timeout_s", dist.timeout_s, "seconds any later collective may take before the run stops");
  b.field("dist.bucket_mb", dist.bucket_mb, "gradient all-reduce bucket cap in MiB");
  b.field("dist.overlap", dist.overlap, "start each bucket's all-reduce during backward (false: after backward)");
  b.field("dist.shard_optimizer", dist.shard_optimizer,
          "ZeRO: each rank keeps 1/W of the fp32 masters, AdamW moments and gradients (gradients reduce-scattered, "
          "weights all-gathered); no effect on one process");
  b.field("dist.zero_stage", dist.zero_stage,
          "with dist.shard_optimizer: 2 = reduce-scatter every micro-batch's gradients into this rank's fp32 "
          "partition (no full-size gradient outlives its bucket; grad_accum times the gradient traffic); 1 = "
          "accumulate full-size fp32 gradients over the step's micro-batches and reduce once per step");
  b.field("dist.rank", dist.rank, "this process's rank (-1: from RANK / SLURM_PROCID / OMPI_COMM_WORLD_RANK)");
  b.field("dist.world_size", dist.world_size, "number of ranks (-1: from the environment; 1 without one)");
  b.field("dist.local_rank", dist.local_rank, "rank on this node (-1: from the environment)");
  b.field("dist.master_addr", dist.master_addr, "host of rank 0's TCPStore (empty: MASTER_ADDR / Slurm nodelist)");
  b.field("dist.master_port", dist.master_port, "port of rank 0's TCPStore (-1: MASTER_PORT / from SLURM_JOB_ID)");
}

}  // namespace

void RunConfig::bind(vr::ConfigBinder& b) {
  b.field("model.path", model.path, "HF llava-hf checkpoint directory to train (config.json, weights, tokenizer)");
  b.field("model.make_tiny_family", model.make_tiny_family,
          "llava | bunny: create a tiny random model at model.path when it is missing (smoke runs)");
  b.field("model.make_tiny_seed", model.make_tiny_seed, "seed of that tiny model");
  b.field("output_dir", output_dir, "run directory: checkpoints/, metrics.jsonl, config.yaml, final/");
  b.field("resume", resume, "auto (latest checkpoint in output_dir, if any) | never | a checkpoint directory");

  bind_data(b, data);
  bind_train(b, train);
  bind_dist(b, dist);

  b.field("log.tensorboard", log.tensorboard,
          "write TensorBoard scalars (loss, lr, grad norm, throughput, memory) to "
          "<output_dir>/events.out.tfevents.* on rank 0, one file per session");

  b.field("lora.r", lora.r, "LoRA rank");
  b.field("lora.alpha", lora.alpha, "LoRA alpha (scale alpha / r)");
  b.field("lora.dropout", lora.dropout, "dropout on the LoRA branch input");
  b.field("lora.targets", lora.targets, "projection names that get adapters inside each tuned layer");

  selection.bind(b);
}

void RunConfig::validate() const {
  auto positive = [](const char* key, int64_t v) { VR_CHECK(v > 0, "{} must be > 0, got {}", key, v); };
  auto non_negative = [](const char* key, double v) {
    VR_CHECK(std::isfinite(v) && v >= 0, "{} must be a finite number >= 0, got {}", key, v);
  };
  VR_CHECK(!model.path.empty(), "model.path is empty: set it to an HF checkpoint directory (--set model.path=DIR)");
  for (const auto& [key, value] : std::vector<std::pair<const char*, std::string>>{
           {"model.path", model.path}, {"data.path", data.path}, {"data.image_folder", data.image_folder}})
    VR_CHECK(value.find("CHANGE_ME") == std::string::npos,
             "{} is still the placeholder '{}': set it to your own path (edit the config or --set {}=...)", key,
             value, key);
  VR_CHECK(!output_dir.empty(), "output_dir is empty: set the run directory (--set output_dir=DIR)");
  {
    const std::string& d = train.device;
    const bool cuda_n = d.rfind("cuda:", 0) == 0 && d.size() > 5 &&
                        d.find_first_not_of("0123456789", 5) == std::string::npos;
    VR_CHECK(d == "auto" || d == "cpu" || d == "cuda" || cuda_n,
             "train.device must be auto, cpu, cuda or cuda:N, got '{}'", d);
  }
  positive("train.batch_size", train.batch_size);
  VR_CHECK(dist.timeout_s > 0 && dist.init_timeout_s > 0, "dist.timeout_s and dist.init_timeout_s must be > 0");
  VR_CHECK(dist.bucket_mb > 0, "dist.bucket_mb must be > 0, got {}", dist.bucket_mb);
  VR_CHECK(dist.zero_stage == 1 || dist.zero_stage == 2, "dist.zero_stage must be 1 or 2, got {}", dist.zero_stage);
  positive("train.grad_accum", train.grad_accum);
  positive("train.keep_last", train.keep_last);
  positive("train.log_every", train.log_every);
  positive("data.model_max_length", data.model_max_length);
  VR_CHECK(data.pack_length >= 0 && data.pack_length <= data.model_max_length,
           "data.pack_length must be in [0, data.model_max_length = {}] (0: model_max_length), got {}",
           data.model_max_length, data.pack_length);
  VR_CHECK(data.pack_buffer > 0, "data.pack_buffer must be > 0, got {}", data.pack_buffer);
  VR_CHECK(train.max_steps >= 0, "train.max_steps must be >= 0 (0 = one epoch), got {}", train.max_steps);
  VR_CHECK(train.max_steps > 0 || train.epochs > 0, "train.epochs must be > 0 when train.max_steps is 0");
  VR_CHECK(train.save_every >= 0, "train.save_every must be >= 0, got {}", train.save_every);
  VR_CHECK(train.lr > 0 && std::isfinite(train.lr), "train.lr must be a positive number, got {}", train.lr);
  non_negative("train.mm_projector_lr", train.mm_projector_lr);
  non_negative("train.weight_decay", train.weight_decay);
  non_negative("train.max_grad_norm", train.max_grad_norm);
  VR_CHECK(train.warmup_ratio >= 0 && train.warmup_ratio <= 1, "train.warmup_ratio must be in [0, 1], got {}",
           train.warmup_ratio);
  VR_CHECK(train.method == "full" || train.stage == "sft",
           "train.method=lora needs train.stage=sft (stage is '{}')", train.stage);
  if (train.method == "lora") {
    positive("lora.r", lora.r);
    VR_CHECK(lora.alpha > 0, "lora.alpha must be > 0, got {}", lora.alpha);
    VR_CHECK(lora.dropout >= 0 && lora.dropout < 1, "lora.dropout must be in [0, 1), got {}", lora.dropout);
    VR_CHECK(!lora.targets.empty(), "lora.targets is empty: list projections such as q_proj, v_proj");
  }
  VR_CHECK(selection.layers.empty() || selection.strategy == "manual",
           "selection.layers [{}] is set, but selection.strategy is '{}': the list is used only by "
           "selection.strategy=manual",
           fmt::join(selection.layers, ", "), selection.strategy);
  if (train.stage == "sft") {
    if (selection.strategy == "manual")
      VR_CHECK(!selection.layers.empty(),
               "selection.strategy=manual needs selection.layers, e.g. --set selection.layers=1,5,9,13");
    else
      VR_CHECK(selection.count > 0 || (selection.fraction > 0 && selection.fraction <= 1),
               "selection.fraction must be in (0, 1] (or set selection.count), got {}", selection.fraction);
  }
  VR_CHECK(resume == "auto" || resume == "never" || !resume.empty(), "resume must be auto, never or a directory");
}

}  // namespace vr::train
