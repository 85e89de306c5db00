"""Generation speed of `vrtrain generate` vs Hugging Face `generate` on the same checkpoint and prompts: greedy,
KV cache, no early stop, same thread count; runs interleaved (vrtrain, HF, vrtrain, HF, ...) so that machine load
hits both alike. Reports medians and the HF / vrtrain ratio. Also used for pruned vs unpruned models.

  PYTHONPATH=/opt/vr-oracle /usr/bin/python3 bench/generate_bench.py --vrtrain build/vrtrain \
      --model DIR [--model DIR2 ...] --batch 1 --prompt-len 32 --new 32 --reps 5 --threads 1

Prompts: random text ids in [3, 200) with ONE image placeholder (LLaVA checkpoints; pixel_values N(0,1)), rows of
equal length (no padding). Timing inside each process: vrtrain --timing (prefill = until the first id is chosen);
HF: a StoppingCriteria notes the time of its first call (right after the first id is chosen), total = generate().
Model loading is excluded on both sides. Both must produce the same ids: the script checks it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration, StoppingCriteria, StoppingCriteriaList


class FirstCall(StoppingCriteria):
    def __init__(self):
        self.t = None

    def __call__(self, input_ids, scores, **kwargs):
        if self.t is None:
            self.t = time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def make_inputs(model_dir, batch, prompt_len, path):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 200, (batch, prompt_len), generator=g)
    ids[:, 0] = 1
    t = {"attention_mask": torch.ones(batch, prompt_len, dtype=torch.long)}
    if cfg["model_type"] == "llava":
        img = cfg["image_token_index"]
        ids[ids == img] = img + 1  # exactly one placeholder per row
        ids[:, 1] = img
        s = cfg["vision_config"]["image_size"]
        t["pixel_values"] = torch.randn(batch, 3, s, s, generator=g)
    t["input_ids"] = ids
    save_file(t, path)
    return cfg["model_type"]


def run_vrtrain(args, model_dir, inputs, out):
    cmd = [args.vrtrain, "generate", "--model", model_dir, "--inputs", inputs, "--output", out, "--no-eos",
           "--max-new-tokens", str(args.new), "--threads", str(args.threads), "--timing"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    line = next(l for l in res.stdout.splitlines() if l.startswith("timing:"))
    kv = dict(x.split("=") for x in line.split()[1:])
    return float(kv["prefill_s"]), float(kv["total_s"]), load_file(out)["sequences"]


def run_hf(model, kind, inputs):
    kwargs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    if kind == "llava":
        kwargs["pixel_values"] = inputs["pixel_values"]
    first = FirstCall()
    t0 = time.perf_counter()
    with torch.no_grad():
        seq = model.generate(**kwargs, do_sample=False, num_beams=1, use_cache=True, max_new_tokens=ARGS.new,
                             min_new_tokens=ARGS.new, stopping_criteria=StoppingCriteriaList([first]))
    t1 = time.perf_counter()
    return first.t - t0, t1 - t0, seq


def main():
    torch.set_num_threads(ARGS.threads)
    tmp = tempfile.mkdtemp(prefix="generate_bench_")
    rows = []
    for model_dir in ARGS.model:
        inputs_path = os.path.join(tmp, "in.safetensors")
        kind = make_inputs(model_dir, ARGS.batch, ARGS.prompt_len, inputs_path)
        inputs = load_file(inputs_path)
        cls = LlavaForConditionalGeneration if kind == "llava" else LlamaForCausalLM
        model = cls.from_pretrained(model_dir, attn_implementation="eager", torch_dtype=torch.float32).eval()
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0
        vr_times, hf_times = [], []
        run_vrtrain(ARGS, model_dir, inputs_path, os.path.join(tmp, "out.safetensors"))  # warm-up (page cache)
        run_hf(model, kind, inputs)
        for _ in range(ARGS.reps):
            p, t, vr_seq = run_vrtrain(ARGS, model_dir, inputs_path, os.path.join(tmp, "out.safetensors"))
            vr_times.append((p, t))
            p, t, hf_seq = run_hf(model, kind, inputs)
            hf_times.append((p, t))
        same = torch.equal(vr_seq, hf_seq)
        n_tok = ARGS.batch * ARGS.new

        def med(ts, i):
            return statistics.median(x[i] for x in ts)

        row = {"model": model_dir, "kind": kind, "params": model.num_parameters(), "batch": ARGS.batch,
               "prompt_len": ARGS.prompt_len, "new": ARGS.new, "threads": ARGS.threads, "same_ids": same,
               "vrtrain": {"prefill_s": med(vr_times, 0), "decode_s": med(vr_times, 1) - med(vr_times, 0),
                           "total_s": med(vr_times, 1), "tok_s": n_tok / med(vr_times, 1)},
               "hf": {"prefill_s": med(hf_times, 0), "decode_s": med(hf_times, 1) - med(hf_times, 0),
                      "total_s": med(hf_times, 1), "tok_s": n_tok / med(hf_times, 1)}}
        row["hf_over_vrtrain_total"] = row["hf"]["total_s"] / row["vrtrain"]["total_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not same:
            print(f"WARNING: different ids\nvrtrain {vr_seq.tolist()}\nHF {hf_seq.tolist()}", file=sys.stderr)
    print("| model | batch | prompt | new | vrtrain prefill | vrtrain decode | vrtrain tok/s | HF prefill | HF decode "
          "| HF tok/s | HF/vrtrain time | same ids |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        v, h = r["vrtrain"], r["hf"]
        print(f"| {os.path.basename(r['model'].rstrip('/'))} ({r['params'] / 1e6:.1f} M) | {r['batch']} | "
              f"{r['prompt_len']} | {r['new']} | {v['prefill_s'] * 1e3:.1f} ms | {v['decode_s'] * 1e3:.1f} ms | "
              f"{v['tok_s']:.1f} | {h['prefill_s'] * 1e3:.1f} ms | {h['decode_s'] * 1e3:.1f} ms | {h['tok_s']:.1f} | "
              f"{r['hf_over_vrtrain_total']:.2f}x | {r['same_ids']} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--vrtrain", default="build/vrtrain")
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    ARGS = p.parse_args()
    main()
