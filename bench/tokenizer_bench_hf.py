#!/usr/bin/env python3
"""The same measurements as bench/tokenizer_bench.cpp, with Hugging Face's Rust `tokenizers` (Python binding),
single-threaded, timed in thread CPU time like the C++ bench. Reference only (pip install tokenizers); vrtrain itself never runs Python.

    RAYON_NUM_THREADS=1 python3 bench/tokenizer_bench_hf.py --tokenizer DIR_OR_JSON [--text FILE] [--repeat 50]
"""
import argparse
import os
import statistics
import time

import tokenizers

ap = argparse.ArgumentParser()
ap.add_argument("--tokenizer", required=True)
ap.add_argument("--text", default="bench/data/mixed_20k.txt")
ap.add_argument("--repeat", type=int, default=50)
args = ap.parse_args()
path = args.tokenizer
if os.path.isdir(path):
    path = os.path.join(path, "tokenizer.json")
text = open(args.text, "rb").read().decode("utf-8")
lines = text.splitlines(keepends=True)

t0 = time.thread_time()
tok = tokenizers.Tokenizer.from_file(path)
load_s = time.thread_time() - t0

t0 = time.thread_time()
ids = tok.encode(text, add_special_tokens=False).ids
cold_s = time.thread_time() - t0
doc_s, lines_s, decode_s = [], [], []
for _ in range(args.repeat):
    t0 = time.thread_time()
    ids = tok.encode(text, add_special_tokens=False).ids
    doc_s.append(time.thread_time() - t0)
    t0 = time.thread_time()
    line_tokens = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines)
    lines_s.append(time.thread_time() - t0)
    t0 = time.thread_time()
    decoded = tok.decode(ids, skip_special_tokens=False)
    decode_s.append(time.thread_time() - t0)
checksum = 0
for i in ids:
    checksum = (checksum * 1000003 + i) % (1 << 64)
med = statistics.median_high
print(f"hf {tokenizers.__version__}  {args.tokenizer}")
print(f"  text      {len(text.encode())} bytes, {len(lines)} lines; {len(ids)} tokens as one document "
      f"(checksum {checksum:016x}), {line_tokens} line by line")
print(f"  load      {load_s:.3f} s")
print(f"  doc cold  {cold_s * 1e3:.3f} ms  {len(ids) / cold_s / 1e6:.2f} M tokens/s")
print(f"  doc       {med(doc_s) * 1e3:.3f} ms  {len(ids) / med(doc_s) / 1e6:.2f} M tokens/s  (median of {args.repeat})")
print(f"  lines     {med(lines_s) * 1e3:.3f} ms  {line_tokens / med(lines_s) / 1e6:.2f} M tokens/s  ({len(lines)} calls)")
print(f"  decode    {med(decode_s) * 1e3:.3f} ms  {len(ids) / med(decode_s) / 1e6:.2f} M tokens/s  "
      f"(round trip {'exact' if decoded == text else 'differs'})")
