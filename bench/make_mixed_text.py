#!/usr/bin/env python3
"""Writes bench/data/mixed_20k.txt: a deterministic ~20 KB text mixing English prose, code, numbers,
CJK, emoji, other scripts and whitespace runs, for the tokenizer benchmark. Usage:
    python3 bench/make_mixed_text.py > bench/data/mixed_20k.txt
"""
import random

rng = random.Random(20241217)

english = [
    "The visual region of a language model is a small set of layers that matter most for vision.",
    "We tune only a quarter of the layers, spread uniformly over the depth of the network.",
    "Researchers often ask whether it's the early or the late layers that carry the image signal.",
    "Training took 3.5 hours on 8 GPUs, which is 42% less than full fine-tuning (about 6.1 hours).",
    "\"Don't panic,\" she said; they'll re-run the job at 09:30 UTC on 2024-12-17.",
    "Mr. O'Neill's cat — a tabby named Pixel — sat on the keyboard & typed 'qqqqqq'.",
]
code = [
    "def forward(self, x: torch.Tensor) -> torch.Tensor:\n    return self.down(F.silu(self.gate(x)) * self.up(x))\n",
    "for (int64_t i = 0; i < n; ++i) {\n\tout[i] = std::max(out[i], in[i] * 0.5f);\n}\n",
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 10;\n",
    "    if err != nil {\n        return fmt.Errorf(\"load %s: %w\", path, err)\n    }\n",
    "<div class=\"card\"><a href=\"https://example.org/a?b=1&c=2#frag\">link</a></div>\n",
]
numbers = ["3.14159265358979", "1,234,567.89", "0x7FFF_FFFF", "6.02214076e23", "-273.15", "1234567890123",
           "v1.5.0-rc2", "192.168.0.1:8080", "50%", "$1,999.99"]
cjk = ["视觉区域是语言模型中对图像最重要的层。", "東京は日本の首都です。今日はいい天気ですね。",
       "한국어 문장도 포함합니다. 토크나이저 테스트입니다.", "中文、日本語、한국어の混在テキスト。"]
emoji = ["👍🏽", "🦙🦙", "🏳️‍🌈", "🇫🇷🇯🇵", "🤷‍♀️", "1️⃣2️⃣", "😀😃😄", "✅❌⚠️"]
scripts = ["Привет, как дела? Всё хорошо.", "Γειά σου Κόσμε", "مرحبا بالعالم", "नमस्ते दुनिया",
           "สวัสดีชาวโลก", "Việt Nam rất đẹp", "Größenordnung Straße Äpfel"]
spaces = ["  ", "    ", "\t", "\n", "\n\n", "\r\n", "        ", "\u00a0", "\u3000", " \n "]

parts = []
size = 0
while size < 20000:
    kind = rng.random()
    if kind < 0.35:
        s = rng.choice(english)
    elif kind < 0.55:
        s = rng.choice(code)
    elif kind < 0.65:
        s = " ".join(rng.choice(numbers) for _ in range(rng.randint(2, 5)))
    elif kind < 0.75:
        s = rng.choice(cjk)
    elif kind < 0.82:
        s = " ".join(rng.choice(emoji) for _ in range(rng.randint(1, 4)))
    elif kind < 0.90:
        s = rng.choice(scripts)
    else:
        s = rng.choice(spaces) * rng.randint(1, 3)
    s += rng.choice([" ", " ", "\n", "  ", ""])
    parts.append(s)
    size += len(s.encode("utf-8"))
print("".join(parts), end="")
