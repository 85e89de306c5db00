"""The length mix of the packing benchmark (bench/packing_bench.py): LLaVA-665K-shaped conversations.

Source of the histogram
-----------------------
* **Composition: published.** The 665K records of llava_v1_5_mix665k.json and their sources are LLaVA-1.5's
  (Liu et al., "Improved Baselines with Visual Instruction Tuning", arXiv 2310.03744, Table 7): LLaVA-Instruct
  158K (conversation 58K, detail 23K, complex reasoning 77K), ShareGPT 40K (text only), VQAv2 83K, GQA 72K,
  OKVQA 9K, OCRVQA 80K, A-OKVQA 66K, TextCaps 22K, RefCOCO 48K, VG 86K. LLaVA-1.5 merges all questions about one
  image into one multi-turn record, and appends its short-answer prompt ("Answer the question using a single word
  or phrase.") to VQA questions.
* **Per-source shapes: modelled, not measured.** The JSON cannot be downloaded here, so each source's rounds per
  record and words per question/answer are drawn from the ranges below, set from the datasets' formats (VQAv2 ~5.4
  questions per image, GQA more, one-sentence TextCaps captions, box-coordinate RefCOCO/VG turns, long ShareGPT
  chats truncated at the context). The resulting merged-length histogram is printed by `packing_bench.py make`
  and copied into docs/benchmarks.md; it lies within the usual description of LLaVA-665K (most records a few
  hundred text tokens after the 576 image slots, a long text-only tail up to 2048).

Scale
-----
The benchmark runs on a 2-core CPU, so merged lengths are scaled by `scale` (default 1/4): 576 image slots become
the 144 of a 168-px/14 tower and the 2048 context becomes 512. Each record's full-scale merged length in Llama
tokens (BOS, the ~34-token vicuna system prompt, ~6 role tokens per round, 1.3 tokens per word, 576 slots per
image) is computed from its drawn shape and multiplied by `scale`; the record is then written with
round(rounds x scale) rounds (at least one) whose words fill that target in the benchmark tokenizer's tokens,
after its own system prompt and role tokens. So the merged-length histogram is the full-scale one divided by 4,
which is what decides padding and samples per packed row; the number of turns is not preserved.
"""
import os
import random

# bench/data/llava665k_mix.txt: name, records in LLaVA-665K, image or text, rounds lo-hi, question words lo-hi,
# answer words lo-hi per line. Word counts are English words at full scale (~1.3 Llama tokens per word).
_TABLE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "llava665k_mix.txt")).read()


def _range(text):
    lo, hi = text.split("-")
    return int(lo), int(hi)


SOURCES = [(name, int(n), kind == "image", _range(r), _range(q), _range(a))
           for name, n, kind, r, q, a in (line.split() for line in _TABLE.splitlines()
                                                        if line.strip() and not line.startswith("#"))]

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")  # vicuna_v1
WORDS = ("the a red blue green small large man woman dog cat bus street sign table window left right near under "
         "over holding wearing standing sitting next to behind two three several people building tree sky car "
         "picture shows appears likely because colour bright dark wooden metal white black yellow").split()


def _words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n)))


def make_records(n, images, seed, scale, words_per_token, system_tokens, round_tokens):
    """n LLaVA-format records drawn from the mix; images: file names to cycle through.

    words_per_token, system_tokens (BOS + system prompt) and round_tokens (role words and </s> of one round)
    describe the benchmark's tokenizer; they turn each record's scaled target length into words."""
    rng = random.Random(seed)
    total = sum(s[1] for s in SOURCES)
    weights = [s[1] / total for s in SOURCES]
    slots = round(576 * scale)
    records = []
    for i in range(n):
        name, _, has_image, rounds, qw, aw = rng.choices(SOURCES, weights)[0]
        shape = [(rng.randint(*qw), rng.randint(*aw)) for _ in range(rng.randint(*rounds))]
        full = 1 + 34 + sum(6 + 1.3 * (q + a) for q, a in shape) + (576 if has_image else 0)
        target = min(full, 2048) * scale
        kept = shape[:max(1, round(len(shape) * scale))]
        budget = target - system_tokens - len(kept) * round_tokens - (slots if has_image else 0)
        words = sum(q + a for q, a in kept)
        conv = []
        for r, (q, a) in enumerate(kept):
            q_n = max(1, round(budget * q / words * words_per_token))
            a_n = max(1, round(budget * a / words * words_per_token))
            conv.append({"from": "human", "value": ("<image>\n" if r == 0 and has_image else "")
                         + _words(rng, q_n).capitalize() + "?"})
            conv.append({"from": "gpt", "value": _words(rng, a_n).capitalize() + "."})
        rec = {"id": f"{name}-{i:05d}", "conversations": conv}
        if has_image:
            rec["image"] = images[i % len(images)]
        records.append(rec)
    return records
