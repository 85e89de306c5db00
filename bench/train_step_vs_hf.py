#!/usr/bin/env python3
"""Training step time and memory, vrtrain vs Hugging Face transformers, on the same saved checkpoint and batch.

The "small LLaVA" of issue 13: CLIP-style tower 224/14 x 4 layers (width 384), Llama 512 x 8 layers with GQA
(8 query / 2 key-value heads), MLP 1376, vocabulary 32064; batch 4 x 96 text tokens, each with one image
(256 features) -> 4 x 351 merged tokens; per row 31 prompt tokens and 64 supervised answer tokens (18 % of the
merged positions carry a label, as in LLaVA where 576 image slots and the prompt are -100). fp32, AdamW (lr 1e-5,
no weight decay), the vision tower frozen.
  full       every parameter but the vision tower (LLaVA fine-tuning)
  selective  the projector + LLM layers 1 and 5 (25 % uniform)

Each measurement is one process (bench/train_step_bench for vrtrain, bench/train_step_hf.py for transformers)
running --warmup untimed and --steps timed steps; the configurations run one after the other in every round
(rotated), --rounds times, so slow phases of a shared machine hit all of them. Memory = peak RSS - RSS before the
first step (activations, gradients, AdamW state, temporaries), the same measure on both sides.

    PYTHONPATH=/opt/vr-oracle /usr/bin/python3 bench/train_step_vs_hf.py --bench build/bench/train_step_bench \
        [--workdir /tmp/vr-small-llava] [--rounds 3] [--steps 2] [--warmup 1] [--threads 1,2] [--variants ...]

LibTorch 2.x (fused attention on both sides): --bench build-torch2/bench/train_step_bench, with this script run by a
Python whose torch is the same 2.x (e.g. the PyPI wheel installed with --target into a directory put first on
PYTHONPATH; docs/benchmarks.md gives the commands): transformers then uses its "sdpa" attention by itself.

Variants: "before" = vrtrain's path before issue 13 (full [B,M,V] logits then the loss, eager attention,
--threads via at::set_num_threads alone, the OpenBLAS pool left as loaded), compared with "hf-keep"
(torch.set_num_threads alone, the same pool); "after" = what `vrtrain train` runs now (supervised-only chunked
loss, vr::compat::set_cpu_threads, fused attention where LibTorch has it), compared with "hf" (the same BLAS
thread setting applied to transformers' process). Any other variant string is passed to train_step_bench as flags;
the word "openmp" in it runs that process on Debian's OpenMP build of OpenBLAS (libopenblas0-openmp) instead.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--bench", required=True, help="build/bench/train_step_bench")
ap.add_argument("--workdir", default="/tmp/vr-small-llava")
for flag, default in (("--rounds", 3), ("--steps", 2), ("--warmup", 1)):
    ap.add_argument(flag, type=int, default=default)
ap.add_argument("--threads", default="1,2")
ap.add_argument("--train", default="full,1,5", help="'full,1,5' = full and selective (layers 1,5)")
ap.add_argument("--variants", default="hf-keep,before,hf,after")
ap.add_argument("--raw", default=None, help="append every JSON result line to this file")
ap.add_argument("--make-only", action="store_true", help="write the checkpoint and batch, run nothing")
args = ap.parse_args()

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(args.workdir, "model")
BATCH = os.path.join(args.workdir, "batch.safetensors")


def make_checkpoint_and_batch():
    import torch
    import transformers
    from safetensors.torch import save_file
    if not os.path.exists(os.path.join(MODEL, "config.json")):
        torch.manual_seed(0)
        vision = transformers.CLIPVisionConfig(image_size=224, patch_size=14, hidden_size=384, intermediate_size=1536,
                                               num_hidden_layers=4, num_attention_heads=6, projection_dim=384)
        text = transformers.LlamaConfig(vocab_size=32064, hidden_size=512, intermediate_size=1376,
                                        num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                                        max_position_embeddings=2048, rms_norm_eps=1e-5, pad_token_id=0)
        cfg = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_index=32000,
                                       vision_feature_layer=-2, vision_feature_select_strategy="default",
                                       pad_token_id=0)
        model = transformers.LlavaForConditionalGeneration(cfg)
        model.save_pretrained(MODEL, safe_serialization=True)
    if not os.path.exists(BATCH):
        g = torch.Generator().manual_seed(1)
        B, T, prompt = 4, 96, 31
        ids = torch.randint(3, 32000, (B, T), generator=g)
        ids[:, 0] = 1           # BOS
        ids[:, 1] = 32000       # the image placeholder (llava-hf image_token_index)
        labels = ids.clone()
        labels[:, :2 + prompt] = -100  # BOS, image, prompt
        save_file({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels,
                   "pixel_values": torch.randn(B, 3, 224, 224, generator=g)}, BATCH)


def run(variant, train, threads):
    common = ["--model", MODEL, "--batch", BATCH, "--train", train, "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--threads", str(threads)]
    if variant.startswith("hf"):
        cmd = [sys.executable, os.path.join(HERE, "train_step_hf.py")] + common
        if variant == "hf-keep":
            cmd += ["--blas-threads", "keep"]
    elif variant == "before":
        cmd = [args.bench] + common + ["--loss", "full-logits", "--attention", "eager", "--blas-threads", "keep"]
    elif variant == "after":
        cmd = [args.bench] + common
    else:
        cmd = [args.bench] + common + variant.split()  # any other flags, e.g. "--loss full-logits"
    env = dict(os.environ)
    if "openmp" in variant:
        # Debian's OpenMP build of OpenBLAS (apt install libopenblas0-openmp) instead of the pthreads one.
        cmd = [c for c in cmd if c != "openmp"]
        env["LD_LIBRARY_PATH"] = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["variant"] = variant
    return r


make_checkpoint_and_batch()
if args.make_only:
    sys.exit(0)
threads = [int(t) for t in args.threads.split(",")]
trains = ["full", "1,5"] if args.train == "full,1,5" else args.train.split(";")
variants = args.variants.split(",")
configs = [(v, tr, th) for th in threads for tr in trains for v in variants]
results = {c: [] for c in configs}
for rnd in range(args.rounds):
    order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
    for c in order:
        r = run(*c)
        results[c].append(r)
        line = json.dumps(r)
        print(line, file=sys.stderr, flush=True)
        if args.raw:
            with open(args.raw, "a") as f:
                f.write(line + "\n")

GiB = 1024.0 ** 3
print(f"\nsmall LLaVA, batch 4 x 351 merged tokens, {args.rounds} rounds x {args.steps} timed steps "
      f"(+{args.warmup} warm-up) per configuration; wall and process CPU seconds per step\n")
print("| threads | train | variant | BLAS | wall s (median) | min | CPU s (median) | step memory GiB | first loss |")
print("|---:|---|---|---|---:|---:|---:|---:|---:|")
summary = {}
for c in configs:
    times = [t for r in results[c] for t in r["times"]]
    cpus = [t for r in results[c] for t in r["cpu_times"]]
    mem = statistics.median((r["peak_rss"] - r["rss_before_step"]) / GiB for r in results[c])
    summary[c] = (statistics.median(times), min(times), statistics.median(cpus), mem)
    v, tr, th = c
    med, mn, cpu, _ = summary[c]
    print(f"| {th} | {'full' if tr == 'full' else 'selective ' + tr} | {v} | {results[c][0]['blas']} | {med:.3f} | "
          f"{mn:.3f} | {cpu:.3f} | {mem:.3f} | {results[c][0]['first_loss']:.5f} |")
refs = {"before": "hf-keep", "after": "hf"}
print("\nRatios to transformers under the same thread setting (before: BLAS pool as loaded; after: "
      "vrtrain's set_cpu_threads policy on both sides)\n")
print("| threads | train | variant | vs | wall (median) | wall (min) | CPU (median) | step memory |")
print("|---:|---|---|---|---:|---:|---:|---:|")
for (v, tr, th), (med, mn, cpu, mem) in summary.items():
    ref = refs.get(v, "hf")
    if v.startswith("hf") or (ref, tr, th) not in summary:
        continue
    hmed, hmn, hcpu, hmem = summary[(ref, tr, th)]
    print(f"| {th} | {'full' if tr == 'full' else 'selective ' + tr} | {v} | {ref} | {med / hmed:.2f} | "
          f"{mn / hmn:.2f} | {cpu / hcpu:.2f} | {mem / hmem:.2f} |")
