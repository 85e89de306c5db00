#!/usr/bin/env python3
"""The Hugging Face side of bench/packing_bench.py: one epoch over the benchmark's dataset.json as LLaVA-1.5 trains
it (llava/train/train.py with transformers' LlavaForConditionalGeneration): vicuna_v1 prompts, <image> expanded
by the model to its feature slots, LLaVA's modality-length grouped sampler, right padding to the longest row of
each micro-batch, mean loss per micro-batch, AdamW. Prints one JSON line. Reference only (never a runtime
dependency of vrtrain).

    PYTHONPATH=/opt/vr-oracle /usr/bin/python3 bench/packing_hf.py --model DIR --data DIR \
        --layers 1,5 [--batch-size 8] [--max-length 512] [--threads 2] [--seed 42]

Batches are built (tokenised, images preprocessed, padded) before the clock starts: only the training steps are
timed, which favours this side (vrtrain's step times include any wait for its loader).
"""
import argparse
import json
import os
import resource
import time

import torch
import transformers
from PIL import Image

from image_bench_reference import expand2square

import hf_threads
from packing_mix import SYSTEM

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--data", required=True, help="folder with dataset.json and images/")
ap.add_argument("--layers", required=True, help="tuned LLM layers (the projector trains too), e.g. 1,5")
ap.add_argument("--batch-size", type=int, default=8)
ap.add_argument("--max-length", type=int, default=512, help="model_max_length: input ids are truncated to it")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=42)
args = ap.parse_args()

blas = hf_threads.configure(args.threads)
torch.manual_seed(args.seed)
tok = transformers.AutoTokenizer.from_pretrained(args.model)
proc = transformers.CLIPImageProcessor.from_pretrained(args.model)
model = transformers.LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=torch.float32)
IMAGE = model.config.image_token_index
SLOTS = model.config.image_seq_length if hasattr(model.config, "image_seq_length") else \
    (model.config.vision_config.image_size // model.config.vision_config.patch_size) ** 2


def encode(rec):
    """vicuna_v1 as LLaVA's preprocess_v1: system, then "USER: q ASSISTANT: a</s>" rounds; instructions masked."""
    ids, labels = [tok.bos_token_id], [-100]
    text = SYSTEM + " "
    for t in rec["conversations"]:
        if t["from"] == "human":
            text += "USER: " + t["value"] + " ASSISTANT:"
        else:
            before = text.split("<image>")
            for k, part in enumerate(before):
                if k:
                    ids.append(IMAGE)
                    labels.append(-100)
                piece = tok(part, add_special_tokens=False).input_ids
                ids += piece
                labels += [-100] * len(piece)
            answer = tok(" " + t["value"] + "</s>", add_special_tokens=False).input_ids
            ids += answer
            labels += answer
            text = ""
    ids, labels = ids[:args.max_length], labels[:args.max_length]
    return ids, labels


def modality_grouped_order(lengths, batch_size, generator):
    """LLaVA's get_modality_length_grouped_indices for one process (world size 1): image and text-only records are
    shuffled apart, cut into megabatches of batch_size sorted longest first, the megabatches shuffled, and the two
    remainders merged into a last batch. Lengths: > 0 with an image, < 0 text only."""
    def grouped(idx, lens):
        perm = torch.randperm(len(idx), generator=generator).tolist()
        mbs = [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]
        return [[idx[i] for i in sorted(mb, key=lambda i: lens[i], reverse=True)] for mb in mbs]
    mm = [(i, l) for i, l in enumerate(lengths) if l > 0]
    lang = [(i, -l) for i, l in enumerate(lengths) if l < 0]
    mm_b = grouped([i for i, _ in mm], [l for _, l in mm]) if mm else []
    lang_b = grouped([i for i, _ in lang], [l for _, l in lang]) if lang else []
    rest = (mm_b[-1] if mm_b else []) + (lang_b[-1] if lang_b else [])
    batches = mm_b[:-1] + lang_b[:-1]
    batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    if rest:
        batches.append(sorted(rest))
    return batches


with open(os.path.join(args.data, "dataset.json")) as f:
    records = json.load(f)
fill = tuple(int(m * 255) for m in proc.image_mean)
encoded = [encode(r) for r in records]
# LLaVA's modality_lengths: words of the conversation (+ nothing for the image), negative for text only.
lengths = [sum(len(t["value"].split()) for t in r["conversations"]) * (1 if "image" in r else -1) for r in records]
batches = modality_grouped_order(lengths, args.batch_size, torch.Generator().manual_seed(args.seed))

micro_batches = []
for order in batches:
    T = max(len(encoded[i][0]) for i in order)
    ids = torch.full((len(order), T), tok.pad_token_id, dtype=torch.long)
    labels = torch.full((len(order), T), -100, dtype=torch.long)
    mask = torch.zeros((len(order), T), dtype=torch.long)
    pixels = []
    for row, i in enumerate(order):
        x, y = encoded[i]
        ids[row, :len(x)] = torch.tensor(x)
        labels[row, :len(y)] = torch.tensor(y)
        mask[row, :len(x)] = 1
        if "image" in records[i] and IMAGE in x:
            img = expand2square(Image.open(os.path.join(args.data, "images", records[i]["image"])).convert("RGB"), fill)
            pixels.append(proc(img, return_tensors="pt")["pixel_values"][0])
    images = int((ids == IMAGE).sum())
    useful = int(mask.sum()) + images * (SLOTS - 1)             # merged non-pad positions
    # transformers 4.44's merge makes every row T + (most images in a row) x (SLOTS - 1) positions wide.
    width = T + int((ids == IMAGE).sum(1).max()) * (SLOTS - 1)
    mb = dict(input_ids=ids, attention_mask=mask, labels=labels)
    if pixels:
        mb["pixel_values"] = torch.stack(pixels)
    micro_batches.append((mb, useful, width * len(order), len(order)))

layers = [int(x) for x in args.layers.split(",")]
params = []
for name, p in model.named_parameters():
    on = name.startswith("multi_modal_projector.") or any(
        name.startswith(f"language_model.model.layers.{l}.") for l in layers)
    p.requires_grad_(on)
    if on:
        params.append(p)
opt = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.0)
model.train()

steps = []
for mb, useful, slots, samples in micro_batches:
    t0 = time.perf_counter()
    out = model(**mb)
    out.loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    loss = out.loss.item()
    steps.append({"time_s": time.perf_counter() - t0, "tokens": useful, "slots": slots, "samples": samples,
                  "loss": loss})
    del out
print(json.dumps({"framework": "hf", "attention": model.config._attn_implementation, "blas": blas,
                  "steps": steps, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "torch": torch.__version__, "transformers": transformers.__version__}))
