#!/usr/bin/env python3
"""Differential check: `vrtrain tokenize` against Hugging Face `tokenizers` on thousands of random texts
(random slices of a text file, random mixes of tricky atoms, special-token strings). Reference only.

    python3 bench/compare_with_hf.py --vrtrain build/vrtrain --tokenizer DIR [--n 3000] [--seed 1]
Prints the number of texts compared and every mismatch (text, both id lists); exit code 1 on a mismatch.
"""
import argparse
import json
import os
import random
import subprocess
import sys

import tokenizers

ap = argparse.ArgumentParser()
for flag in ("--vrtrain", "--tokenizer"):
    ap.add_argument(flag, required=True)
ap.add_argument("--text", default="bench/data/mixed_20k.txt")
for flag, default in (("--n", 3000), ("--seed", 1)):
    ap.add_argument(flag, type=int, default=default)
args = ap.parse_args()

path = os.path.join(args.tokenizer, "tokenizer.json") if os.path.isdir(args.tokenizer) else args.tokenizer
hf = tokenizers.Tokenizer.from_file(path)
rng = random.Random(args.seed)
corpus = open(args.text, encoding="utf-8").read()
atoms = ["a", "Z", "7", "42", "1234", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "\u0085", "\u2028", "\u200b",
         "'s", "'LL", "'re", ".", "!?", "...", "é", "e\u0301", "ß", "中", "文字", "👍", "👍🏽", "🏳️‍🌈", "\u2581", "▁▁",
         "<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|eot_id|>", "<|eot", "<image>", "<0x0A>", "\ufffd",
         "\U0010ffff", "\x00", "\x1b[0m", "Ġ", "Ċ", "don't", "HTTP", "https://x.org/a?b=1", "  \n  ", "\t\t"]
texts = []
for i in range(args.n):
    if i % 2 == 0:
        b = rng.randrange(len(corpus))
        texts.append(corpus[b:b + rng.randint(0, 400)])
    else:
        texts.append("".join(rng.choice(atoms) for _ in range(rng.randint(0, 30))))

failures = 0
for special in (False, True):
    cmd = [args.vrtrain, "tokenize", "--tokenizer", args.tokenizer] + (["--add-special-tokens"] if special else [])
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    out = subprocess.run(cmd, input=stdin.encode(), capture_output=True, check=True).stdout.decode().splitlines()
    assert len(out) == len(texts), (len(out), len(texts))
    for t, line in zip(texts, out):
        got = json.loads(line)["ids"]
        want = hf.encode(t, add_special_tokens=special).ids
        if got != want:
            failures += 1
            print(f"MISMATCH add_special_tokens={special} text={t!r}\n  vrtrain {got}\n  hf      {want}")
print(f"{args.tokenizer}: {2 * len(texts)} encodings compared with tokenizers {tokenizers.__version__}, "
      f"{failures} mismatches")
sys.exit(1 if failures else 0)
