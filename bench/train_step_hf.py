#!/usr/bin/env python3
"""The Hugging Face side of bench/train_step_vs_hf.py: the same AdamW training steps as bench/train_step_bench.cpp
(same checkpoint, batch, trainable set, optimizer settings), with transformers' LlavaForConditionalGeneration.
Prints one JSON line. Reference only (never a runtime dependency of vrtrain).

    PYTHONPATH=/opt/vr-oracle /usr/bin/python3 bench/train_step_hf.py --model DIR --batch FILE.safetensors \
        [--train full|1,5] [--steps 3] [--warmup 1] [--threads N]
"""
import argparse
import json
import resource
import time

import torch
import transformers

import hf_threads
from safetensors.torch import load_file

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--batch", required=True)
ap.add_argument("--train", default="full")
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--blas-threads", default="",
                help="OpenBLAS's own threads (default: the same as --threads, as vrtrain's set_cpu_threads "
                     "does with a pthreads OpenBLAS; 'keep': leave them as loaded)")
args = ap.parse_args()

blas = hf_threads.configure(args.threads, args.blas_threads)
torch.manual_seed(0)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


model = transformers.LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=torch.float32)
b = load_file(args.batch)
inputs = dict(input_ids=b["input_ids"].long(), attention_mask=b["attention_mask"].long(),
              labels=b["labels"].long(), pixel_values=b["pixel_values"].float().clone())

layers = [] if args.train == "full" else [int(x) for x in args.train.split(",")]
params, trainable, total = [], 0, 0
for name, p in model.named_parameters():
    if args.train == "full":
        on = not name.startswith("vision_tower.")
    else:
        on = name.startswith("multi_modal_projector.") or any(
            name.startswith(f"language_model.model.layers.{l}.") for l in layers)
    p.requires_grad_(on)
    total += p.numel()
    if on:
        trainable += p.numel()
        params.append(p)
opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
model.train()

rss_before = rss_bytes()
times, cpu_times, first_loss = [], [], 0.0
for s in range(args.warmup + args.steps):
    t0, c0 = time.perf_counter(), time.process_time()
    out = model(**inputs)
    out.loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    loss = out.loss.item()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if s == 0:
        first_loss = loss
    if s >= args.warmup:
        times.append(round(dt, 4))
        cpu_times.append(round(cpu, 4))
    del out
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
print(json.dumps({"framework": "hf", "train": args.train, "loss_path": "full-logits",
                  "attention": model.config._attn_implementation, "threads": torch.get_num_threads(),
                  "blas": blas, "times": times, "cpu_times": cpu_times, "first_loss": first_loss,
                  "rss_before_step": rss_before, "peak_rss": peak, "trainable": trainable, "total": total,
                  "torch": torch.__version__, "transformers": transformers.__version__}))
