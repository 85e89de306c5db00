"""Image benchmark helpers (Python, for reference measurements only; vrtrain itself needs no Python).

  python3 bench/image_bench_reference.py make DIR     # deterministic test images (setup step)
  python3 bench/image_bench_reference.py hf DIR --processor clip|siglip --aspect pad|square --threads N

`make` writes 48 photo-like images: 40 JPEGs (quality 90, 4:2:0, sizes 640x480, 480x640, 800x600,
1024x768, 500x375) and 8 PNGs (512x384 RGB, 333x500 greyscale). `hf` times what LLaVA / Bunny run per image:
Image.open(path).convert("RGB"), expand2square (pad), then transformers' CLIPImageProcessor (336) or
SiglipImageProcessor (384) with return_tensors="np", over all images (after one warm-up pass); N threads
share the images (ThreadPoolExecutor; PIL and numpy release the GIL in their C loops).
Needs: pip install Pillow numpy transformers.
"""
import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(12345)
    sizes = [(640, 480), (480, 640), (800, 600), (1024, 768), (500, 375)]
    for i in range(48):
        w, h = sizes[i % len(sizes)] if i < 40 else ((512, 384) if i % 2 else (333, 500))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        f = rng.uniform(0.005, 0.05, size=6)
        img = np.stack([
            128 + 100 * np.sin(xx * f[0] + yy * f[1] + c) * np.cos(yy * f[2 + c % 3] - c) for c in range(3)
        ], -1)
        for _ in range(8):  # a few flat, saturated shapes (edges like real photos)
            x0, y0 = rng.randint(0, w - 40), rng.randint(0, h - 40)
            img[y0:y0 + rng.randint(20, h // 3), x0:x0 + rng.randint(20, w // 3)] = rng.randint(0, 256, 3)
        img += rng.normal(0, 6, img.shape)
        pim = Image.fromarray(img.clip(0, 255).astype(np.uint8))
        if i < 40:
            pim.save(os.path.join(out_dir, f"img{i:02d}.jpg"), quality=90)
        else:
            (pim if i % 2 else pim.convert("L")).save(os.path.join(out_dir, f"img{i:02d}.png"))
    print(f"wrote 48 images to {out_dir}")


def expand2square(img, fill):
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new(img.mode, (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def hf(img_dir, processor, aspect, threads, repeat):
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    if processor == "clip":
        proc = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    else:
        proc = SiglipImageProcessor(size={"height": 384, "width": 384})
    fill = tuple(int(m * 255) for m in proc.image_mean)
    paths = sorted(os.path.join(img_dir, p) for p in os.listdir(img_dir))

    def one(path):
        img = Image.open(path).convert("RGB")
        if aspect == "pad":
            img = expand2square(img, fill)
        return proc(img, return_tensors="np")["pixel_values"]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, paths))  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeat):
            list(pool.map(one, paths))
        dt = time.perf_counter() - t0
    n = len(paths) * repeat
    print(f"hf {processor} aspect={aspect} threads={threads}: {n} images in {dt:.3f} s = {n / dt:.1f} images/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "hf"])
    ap.add_argument("dir")
    ap.add_argument("--processor", default="clip", choices=["clip", "siglip"])
    ap.add_argument("--aspect", default="pad", choices=["pad", "square"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    make(a.dir) if a.cmd == "make" else hf(a.dir, a.processor, a.aspect, a.threads, a.repeat)
