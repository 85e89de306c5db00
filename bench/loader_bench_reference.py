"""Loader benchmark, Python reference side (for measurements only; vrtrain itself needs no Python).

  python3 bench/loader_bench_reference.py make DIR            # images + DIR/dataset.json (setup step)
  python3 bench/loader_bench_reference.py hf DIR --tokenizer TOKENIZER_DIR --workers N

`make` writes the 48 images of bench/image_bench_reference.py and a LLaVA-style dataset.json over them:
192 records (each image used 4 times, every 8th record text-only), 2 rounds of question and answer each,
answers of 40-120 words, like llava_v1_5_mix665k's conversation records.

`hf` does per sample what LLaVA-1.5's LazySupervisedDataset does (llava/train/train.py): Image.open().convert
("RGB"), expand2square with the processor mean, CLIPImageProcessor (336) to a float array; the vicuna_v1 prompt,
tokenized whole with the <image> placeholder spliced in (tokenizer_image_token) and every round tokenized again
for the label mask (preprocess_v1). It uses the Rust fast tokenizer (transformers' PreTrainedTokenizerFast on
the same tokenizer.json), which is faster than the SentencePiece one LLaVA loads. N worker processes, as torch's
DataLoader(num_workers=N) would run them; collation is not timed. The C++ side is
`build/bench/loader_bench json DIR TOKENIZER_DIR`.
Needs: pip install Pillow numpy transformers tokenizers.
"""
import argparse
import json
import os
import random
import sys
import time
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
WORDS = ("the a red blue green small large man woman dog cat bus street sign table window left right near under "
         "over holding wearing standing sitting next to behind two three several people building tree sky car "
         "picture shows appears likely because colour bright dark wooden metal white black yellow").split()


def make(out_dir):
    import image_bench_reference
    image_bench_reference.make(out_dir)
    images = sorted(p for p in os.listdir(out_dir) if p.endswith((".jpg", ".png")))
    rng = random.Random(7)
    records = []
    for i in range(4 * len(images)):
        has_image = i % 8 != 7
        conv = []
        for r in range(2):
            q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "?"
            a = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))).capitalize() + "."
            conv.append({"from": "human", "value": ("<image>\n" if r == 0 and has_image else "") + q})
            conv.append({"from": "gpt", "value": a})
        rec = {"id": f"bench-{i:04d}", "conversations": conv}
        if has_image:
            rec["image"] = images[i % len(images)]
        records.append(rec)
    with open(os.path.join(out_dir, "dataset.json"), "w") as f:
        json.dump(records, f, indent=1)
    print(f"wrote {len(records)} records to {out_dir}/dataset.json")


_state = {}


def _init(tokenizer_dir):
    from transformers import CLIPImageProcessor, PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(tokenizer_dir, "tokenizer.json"))
    proc = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    _state.update(tok=tok, proc=proc, fill=tuple(int(m * 255) for m in proc.image_mean))


def _tokenizer_image_token(prompt, tok):
    chunks = [tok(c).input_ids for c in prompt.split("<image>")]
    ids = [tok.bos_token_id] if tok.bos_token_id is not None else []
    for k, c in enumerate(chunks):
        c = c[1:] if c and c[0] == tok.bos_token_id else c
        ids += ([-200] if k else []) + c
    return ids


def _sample(args):
    from PIL import Image
    import image_bench_reference
    rec, folder = args
    tok, proc = _state["tok"], _state["proc"]
    pixels = None
    if "image" in rec:
        img = Image.open(os.path.join(folder, rec["image"])).convert("RGB")
        img = image_bench_reference.expand2square(img, _state["fill"])
        pixels = proc(img, return_tensors="np")["pixel_values"][0]
    prompt = SYSTEM + " "
    for t in rec["conversations"]:
        prompt += ("USER: " + t["value"] + " ") if t["from"] == "human" else ("ASSISTANT: " + t["value"] + "</s>")
    ids = _tokenizer_image_token(prompt, tok)
    for rou in prompt.split("</s>"):  # preprocess_v1's label mask: every round tokenized again
        if rou:
            _tokenizer_image_token(rou, tok)
            _tokenizer_image_token(rou.split("ASSISTANT: ")[0] + "ASSISTANT: ", tok)
    return len(ids), pixels is not None


def hf(folder, tokenizer_dir, workers, repeat):
    with open(os.path.join(folder, "dataset.json")) as f:
        records = json.load(f)
    jobs = [(r, folder) for r in records]
    with Pool(workers, initializer=_init, initargs=(tokenizer_dir,)) as pool:
        pool.map(_sample, jobs, chunksize=4)  # warm-up (imports, page cache)
        t0 = time.perf_counter()
        tokens = images = 0
        for _ in range(repeat):
            for n, has_image in pool.map(_sample, jobs, chunksize=4):
                tokens += n
                images += has_image
        dt = time.perf_counter() - t0
    n = len(records) * repeat
    print(f"hf workers {workers}: {n / dt:.1f} samples/s, {images / dt:.1f} images/s, {tokens / dt:.0f} tokens/s "
          f"({n} samples in {dt:.2f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "hf"])
    ap.add_argument("dir")
    ap.add_argument("--tokenizer", default="../shared/fixtures/tokenizers/llama2")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    make(a.dir) if a.cmd == "make" else hf(a.dir, a.tokenizer, a.workers, a.repeat)
