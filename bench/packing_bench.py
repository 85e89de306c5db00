#!/usr/bin/env python3
"""Sequence packing benchmark (issue 22): the same samples trained three ways on the CPU, one epoch each:

  packed     vrtrain train, data.packing=true (first-fit-decreasing rows of pack_length), token-normalised loss
  unpacked   vrtrain train, data.group_by_modality_length=true, each micro-batch padded to its longest row
  hf         transformers' LlavaForConditionalGeneration as LLaVA-1.5 trains it (bench/packing_hf.py): the
             modality-length grouped sampler, right padding

Same checkpoint (a `vrtrain make-tiny` LLaVA, Llama 512 x 8 layers), same dataset.json and images, same trainable
set (projector + the 25 % uniform layers vrtrain selects), fp32, AdamW, 2 threads each. Reported per way: useful
(non-pad merged) tokens per second over every step but the first (warm-up), the padding share of the merged
slots computed, samples per step and peak RSS of the process (the step memory plus the model; the same measure
for all three). The ways run one after the other in every round, rotated, --rounds times.

    PYTHONPATH=/opt/vr-oracle /usr/bin/python3 bench/packing_bench.py make /tmp/vr-packing --vrtrain build/vrtrain
    PYTHONPATH=/opt/vr-oracle /usr/bin/python3 bench/packing_bench.py run /tmp/vr-packing --vrtrain build/vrtrain \
        [--rounds 2] [--ways packed,unpacked,hf]

The length mix and its source: bench/packing_mix.py. Lengths are scaled by 1/4 to fit a 2-core CPU (144 image
slots, context 512).
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import packing_mix  # noqa: E402

CONFIG = """\
model:
  path: {work}/model
output_dir: {work}/runs/unset
resume: never
data:
  path: {work}/data/dataset.json
  image_folder: {work}/data/images
  template: vicuna_v1
  image_aspect_ratio: pad
  model_max_length: {max_length}
  num_workers: 1
  pack_buffer: 1000
train:
  stage: sft
  method: full
  lr: 2.0e-5
  weight_decay: 0.0
  warmup_ratio: 0.0
  lr_scheduler: constant
  max_steps: 0
  epochs: 1
  max_grad_norm: 0
  dtype: fp32
  save_every: 0
  export_final: false
  log_every: 5
  seed: 42
  num_threads: 2
  device: cpu
selection:
  strategy: uniform
  fraction: 0.25
"""


def make(a):
    from PIL import Image
    from transformers import AutoTokenizer
    work = os.path.abspath(a.work)
    slots = round(576 * a.scale)
    side = round(slots ** 0.5)
    assert side * side == slots, f"--scale {a.scale}: 576 x scale must be a square number of image slots"
    subprocess.run([a.vrtrain, "make-tiny", "--output", f"{work}/model", "--family", "llava", "--hidden", "512",
                    "--intermediate", "1376", "--heads", "8", "--layers", "8", "--image-size", str(side * 14),
                    "--seed", "0"], check=True)
    os.makedirs(f"{work}/data/images", exist_ok=True)
    rng = random.Random(3)
    images = []
    for i in range(24):  # photos of assorted aspect ratios: the pad path squares them
        w, h = rng.choice([(640, 480), (480, 640), (500, 375), (612, 612), (800, 533)])
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        for _ in range(6):
            x, y = rng.randrange(w), rng.randrange(h)
            img.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, min(w, x + 120), min(h, y + 90)))
        images.append(f"img_{i:02d}.jpg")
        img.save(f"{work}/data/images/{images[-1]}", quality=90)
    tok = AutoTokenizer.from_pretrained(f"{work}/model")
    words = " ".join(packing_mix.WORDS)
    words_per_token = len(packing_mix.WORDS) / len(tok(words, add_special_tokens=False).input_ids)
    system = packing_mix.SYSTEM
    system_tokens = 1 + len(tok(system + " ", add_special_tokens=False).input_ids)
    round_tokens = (len(tok("USER: red car ASSISTANT: blue dog</s>", add_special_tokens=False).input_ids)
                    - len(tok("red car", add_special_tokens=False).input_ids)
                    - len(tok("blue dog", add_special_tokens=False).input_ids))
    records = packing_mix.make_records(a.records, images, a.seed, a.scale, words_per_token, system_tokens,
                                       round_tokens)
    with open(f"{work}/data/dataset.json", "w") as f:
        json.dump(records, f, indent=1)
    max_length = round(2048 * a.scale)
    with open(f"{work}/bench.yaml", "w") as f:
        f.write(CONFIG.format(work=work, max_length=max_length))
    # Merged lengths (the vicuna_v1 prompt tokenised whole + image slots, capped at the context), for the
    # histogram in docs/benchmarks.md.
    lengths = []
    for r in records:
        text = system + " " + "".join(("USER: " + t["value"].replace("<image>\n", "") + " ASSISTANT:")
                                      if t["from"] == "human" else (" " + t["value"] + "</s>")
                                      for t in r["conversations"])
        n = 1 + len(tok(text, add_special_tokens=False).input_ids)
        lengths.append(min(max_length, n + (slots if "image" in r else 0)))
    edges = [0, 64, 128, 192, 256, 320, 384, 448, max_length]
    print(f"{len(records)} records ({sum('image' in r for r in records)} with an image), {slots} image slots, "
          f"context {max_length}; merged length ~ median {statistics.median(lengths):.0f}, "
          f"mean {statistics.mean(lengths):.0f}")
    for lo, hi in zip(edges, edges[1:]):
        n = sum(lo < x <= hi for x in lengths)
        print(f"  ({lo:3d}, {hi:3d}]  {n:4d}  {'#' * round(60 * n / len(lengths))}")


def wait_rss(cmd, env=None, log=None):
    """Runs cmd; returns (stdout, peak RSS bytes of that process, its CPU seconds: user + system)."""
    with open(log or os.devnull, "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}; see {log}")
    return out, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def selected_layers(run_dir):
    with open(os.path.join(run_dir, "run_summary.json")) as f:
        s = json.load(f)
    return s["layers"]


def run_vrtrain(a, way, rnd):
    work = os.path.abspath(a.work)
    out_dir = f"{work}/runs/{way}-{rnd}"
    shutil.rmtree(out_dir, ignore_errors=True)  # a fresh run each time (no checkpoint, no earlier metrics lines)
    cmd = [a.vrtrain, "train", "--config", f"{work}/bench.yaml", "--set", f"output_dir={out_dir}"]
    if way == "packed":
        cmd += ["--set", "data.packing=true", "--set", f"train.batch_size={a.rows}",
                "--set", "train.loss_normalization=token"]
    else:
        cmd += ["--set", "data.group_by_modality_length=true", "--set", f"train.batch_size={a.batch_size}"]
    _, rss, cpu = wait_rss(cmd, log=f"{out_dir}.log")
    with open(f"{out_dir}/metrics.jsonl") as f:
        lines = [json.loads(x) for x in f if x.strip()]
    steps = [{"time_s": m["step_time_s"], "tokens": m["tokens"], "samples": m["samples"],
              "slots": m["tokens"] / (1.0 - m["padding_share"]) if m["padding_share"] < 1 else 0,
              "loss": m["loss"]} for m in lines]
    return steps, rss, cpu, out_dir


def run_hf(a, layers):
    work = os.path.abspath(a.work)
    out, rss, cpu = wait_rss([sys.executable, os.path.join(HERE, "packing_hf.py"), "--model", f"{work}/model",
                         "--data", f"{work}/data", "--layers", ",".join(map(str, layers)),
                         "--batch-size", str(a.batch_size), "--max-length", str(round(2048 * a.scale)),
                         "--threads", "2"], log=f"{work}/runs/hf.log")
    r = json.loads(out.strip().splitlines()[-1])
    return r["steps"], rss, cpu


def summarise(steps):
    timed = steps[1:]  # the first step warms up allocators and caches
    t = sum(s["time_s"] for s in timed)
    tokens = sum(s["tokens"] for s in timed)
    slots = sum(s["slots"] for s in timed)
    return {"useful_tokens_per_s": tokens / t, "padding_share": 1 - tokens / slots if slots else 0,
            "samples_per_step": statistics.mean(s["samples"] for s in steps), "steps": len(steps),
            "samples": sum(s["samples"] for s in steps), "time_s": t}


def run(a):
    work = os.path.abspath(a.work)
    os.makedirs(f"{work}/runs", exist_ok=True)
    ways = a.ways.split(",")
    results = {w: [] for w in ways}
    layers = None
    for rnd in range(a.rounds):
        order = ways[rnd % len(ways):] + ways[:rnd % len(ways)]
        if "hf" in order and layers is None:  # the HF side tunes what vrtrain selects: run a vrtrain way first
            order.remove("hf")
            order.append("hf")
        for way in order:
            if way == "hf":
                steps, rss, cpu = run_hf(a, layers)
            else:
                steps, rss, cpu, out_dir = run_vrtrain(a, way, rnd)
                layers = layers or selected_layers(out_dir)
            s = summarise(steps)
            s["peak_rss"] = rss
            # Whole process (start-up, loading, every step): less sensitive than wall time to other load on a
            # shared machine, since a process preempted by others is not charged for their time.
            s["process_cpu_s"] = cpu
            s["useful_tokens_per_cpu_s"] = sum(x["tokens"] for x in steps) / cpu
            results[way].append(s)
            print(json.dumps({"round": rnd, "way": way, **s}), flush=True)
            if a.raw:
                with open(a.raw, "a") as f:
                    f.write(json.dumps({"round": rnd, "way": way, "time": time.time(), **s}) + "\n")
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in results.items()}
    print(f"\ntuned layers {layers}; medians over {a.rounds} rounds")
    print("| way | samples/step | padding share | useful tokens/s (wall) | useful tokens / CPU-s | peak RSS "
          "| vs unpacked (wall, CPU) | vs hf (wall, CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for w, m in med.items():
        vs = {o: (f"{m['useful_tokens_per_s'] / med[o]['useful_tokens_per_s']:.2f}x, "
                  f"{m['useful_tokens_per_cpu_s'] / med[o]['useful_tokens_per_cpu_s']:.2f}x") if o in med else "-"
              for o in ("unpacked", "hf")}
        print(f"| {w} | {m['samples_per_step']:.1f} | {100 * m['padding_share']:.1f} % | "
              f"{m['useful_tokens_per_s']:.0f} | {m['useful_tokens_per_cpu_s']:.0f} | {m['peak_rss'] / 2**20:.0f} MiB "
              f"| {vs['unpacked']} | {vs['hf']} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["make", "run"])
    ap.add_argument("work")
    for flag, default, text in [
            ("--vrtrain", "build/vrtrain", "the vrtrain binary"),
            ("--records", 128, "make: records in dataset.json"),
            ("--seed", 0, "make: seed of the records"),
            ("--scale", 0.25, "make: length scale (576 x scale image slots must be a square)"),
            ("--rounds", 2, "run: rounds of all ways, rotated"),
            ("--ways", "packed,unpacked,hf", "run: which ways"),
            ("--batch-size", 8, "samples per micro-batch, unpacked and hf"),
            ("--rows", 4, "packed rows per micro-batch"),
            ("--raw", None, "append every result line to this file")]:
        ap.add_argument(flag, default=default, type=type(default) if default is not None else str, help=text)
    a = ap.parse_args()
    make(a) if a.cmd == "make" else run(a)
