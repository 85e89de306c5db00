"""Held-out synthetic-shapes-like data in LLaVA format, for `vrtrain eval --task loss` (standard library only).

  python3 tests/e2e/shapes_heldout.py OUT_DIR [N] [SEED]

Writes OUT_DIR/heldout.json (LLaVA conversations) and OUT_DIR/images/*.png: N images (default 64) of 1-3 shapes of
one kind and colour in distinct quadrants of a light 56x56 background, each with the question/answer turns of the
built-in synthetic-shapes data (same wording and answers, src/data/synthetic_shapes.cpp). The drawing is this
script's own (not pixel-identical to the built-in generator), drawn with a seed of its own: the images are held out.
"""
import json
import os
import random
import struct
import sys
import zlib

SHAPES = ["circle", "square", "triangle"]
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (230, 200, 30)}
COUNT_WORDS = ["zero", "one", "two", "three"]
SIZE = 56


def png(path, pixels):
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def inside(shape, x, y, cx, cy, r):
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if shape == "square":
        return abs(x - cx) <= r and abs(y - cy) <= r
    # triangle pointing up: apex (cx, cy - r), base y = cy + r
    if y < cy - r or y > cy + r:
        return False
    half = (y - (cy - r)) / 2.0
    return abs(x - cx) <= half


def sample(rng, index, folder):
    shape = rng.randrange(3)
    colour = rng.choice(list(COLOURS))
    count = rng.randint(1, 3)
    quadrants = rng.sample(range(4), count)
    bg = tuple(rng.randint(215, 250) for _ in range(3))
    pixels = [[bg] * SIZE for _ in range(SIZE)]
    q = SIZE // 2
    for quad in quadrants:
        cx = (quad % 2) * q + q // 2 + rng.randint(-3, 3)
        cy = (quad // 2) * q + q // 2 + rng.randint(-3, 3)
        r = rng.randint(7, 10)
        for y in range(SIZE):
            for x in range(SIZE):
                if inside(SHAPES[shape], x, y, cx, cy, r):
                    pixels[y][x] = COLOURS[colour]
    name = f"heldout_{index:04d}.png"
    png(os.path.join(folder, "images", name), pixels)
    qa = [("What shape is in the image?", SHAPES[shape]),
          ("What colour is the shape?" if count == 1 else "What colour are the shapes?", colour),
          ("How many shapes are there?", COUNT_WORDS[count])]
    if count == 1:
        qa.append(("Is the shape on the left or on the right?", "left" if quadrants[0] % 2 == 0 else "right"))
    rng.shuffle(qa)
    qa = qa[:rng.randint(1, 3)]
    conv = []
    for t, (question, answer) in enumerate(qa):
        conv.append({"from": "human", "value": ("<image>\n" + question) if t == 0 else question})
        conv.append({"from": "gpt", "value": answer})
    return {"id": f"heldout-{index}", "image": f"images/{name}", "conversations": conv}


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 20261203)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    records = [sample(rng, i, out) for i in range(n)]
    with open(os.path.join(out, "heldout.json"), "w") as f:
        json.dump(records, f, indent=1)
    print(f"wrote {n} records to {out}/heldout.json")


if __name__ == "__main__":
    main()
