"""Regenerates the held-out image cases in this folder with the Python reference (PIL + HF processors).

    python3 -m venv /tmp/v && /tmp/v/bin/pip install Pillow==9.4.0 numpy transformers==4.44.2
    /tmp/v/bin/python tests/data_files/images/generate.py

Not used by the test suite (which needs no Python); kept so the expected files can be reproduced.
Expected uint8 outputs are stored as PNG (lossless, and our PNG decoder reads them back exactly):
  src_*.png / src_*.jpg ...     inputs
  dec_<input>.png               PIL: Image.open(input).convert("RGB")
  rs_<filter>_<W>x<H>.png       PIL: Image.open("src_noise.png").resize((W, H), filter)
  proc_<cfg>_<mode>_<img>.png   HF processor (do_rescale/do_normalize off) on the image, after LLaVA's
                                expand2square with int(mean*255) for mode "pad"
"""
import io
import json
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(4242)


def save(img, name, **kw):
    img.save(os.path.join(HERE, name), **kw)


# ---- inputs ---------------------------------------------------------------------------------------
# Noise with saturated blocks (where a float or rounding-free resize would differ most).
noise = rng.randint(0, 256, size=(17, 23, 3)).astype(np.uint8)
noise[2:7, 3:9] = 255
noise[9:14, 12:20] = 0
save(Image.fromarray(noise), "src_noise.png")

# A smooth "photo" for JPEG (gradients + a few edges), 29x21.
yy, xx = np.mgrid[0:21, 0:29]
photo = np.stack([xx * 8, yy * 11, (xx + yy) * 5], -1) % 256
photo[5:12, 10:20] = [250, 30, 40]
photo = (photo + rng.randint(0, 20, size=photo.shape)).clip(0, 255).astype(np.uint8)
pim = Image.fromarray(photo)
save(pim, "src_q444.jpg", quality=90, subsampling=0)
save(pim, "src_q422.jpg", quality=80, subsampling=1)
save(pim, "src_q420.jpg", quality=75, subsampling=2)
save(pim, "src_prog.jpg", quality=85, progressive=True)
save(pim.convert("L"), "src_gray.jpg", quality=85)
save(pim.convert("CMYK"), "src_cmyk.jpg", quality=90)
# PNG modes and the other formats.
save(pim.convert("P", palette=Image.ADAPTIVE, colors=16), "src_palette.png")
la = Image.fromarray(np.stack([photo[..., 0], photo[..., 1]], -1), "LA")
save(la, "src_la.png")
rgba = Image.fromarray(np.concatenate([photo, photo[..., :1]], -1), "RGBA")
save(rgba, "src_rgba.png")
g16 = (photo[..., 0].astype(np.uint16) * 3)  # values up to 765: PIL clips at 255 when converting
Image.fromarray(g16.astype(np.uint16)).save(os.path.join(HERE, "src_gray16.png"))
save(pim.convert("1"), "src_bilevel.png")
save(pim, "src_rgb24.bmp")
save(pim.convert("P", palette=Image.ADAPTIVE, colors=32), "src_palette.gif")

for name in sorted(os.listdir(HERE)):
    if name.startswith("src_") and name != "src_noise.png":
        rgb = Image.open(os.path.join(HERE, name)).convert("RGB")
        save(rgb, "dec_" + name.replace(".", "_") + ".png")

# ---- resampling ----------------------------------------------------------------------------------
src = Image.open(os.path.join(HERE, "src_noise.png"))
cases = [("bicubic", Image.BICUBIC, s) for s in [(7, 5), (50, 40), (40, 9), (23, 30), (11, 17), (1, 1), (3, 64)]]
cases += [("bilinear", Image.BILINEAR, (9, 31)), ("lanczos", Image.LANCZOS, (31, 9)),
          ("box", Image.BOX, (10, 8)), ("hamming", Image.HAMMING, (30, 12))]
for fname, f, (w, h) in cases:
    save(src.resize((w, h), f), f"rs_{fname}_{w}x{h}.png")

# ---- processors (small sizes so the expected files stay small) ------------------------------------
from transformers import CLIPImageProcessor, SiglipImageProcessor  # noqa: E402

configs = {
    "clip": CLIPImageProcessor(size={"shortest_edge": 20}, crop_size={"height": 18, "width": 18}),
    "clipint": CLIPImageProcessor(size=15, crop_size=15),  # old-style ints (CLIPFeatureExtractor files)
    "siglip": SiglipImageProcessor(size={"height": 16, "width": 24}),
}
for cname, proc in configs.items():
    proc.save_pretrained(os.path.join(HERE, f"cfg_{cname}"))
# The clip-vit-large-patch14-336 style: ints for the sizes, the pre-2023 feature_extractor_type key.
with open(os.path.join(HERE, "cfg_clipint", "preprocessor_config.json")) as f:
    cfg = json.load(f)
cfg.update(size=15, crop_size=15, feature_extractor_type="CLIPFeatureExtractor")
del cfg["image_processor_type"]
with open(os.path.join(HERE, "cfg_clipint", "preprocessor_config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
for cname, proc in configs.items():
    for iname in ["src_noise.png", "src_q420.jpg", "src_gray.jpg"]:
        img = Image.open(os.path.join(HERE, iname)).convert("RGB")
        for mode in ["square", "pad"]:
            x = img
            if mode == "pad":
                fill = tuple(int(m * 255) for m in proc.image_mean)
                w, h = img.size
                side = max(w, h)
                canvas = Image.new("RGB", (side, side), fill)
                canvas.paste(img, ((side - w) // 2, (side - h) // 2))
                x = canvas
            out = proc(x, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
            out = np.ascontiguousarray(out.transpose(1, 2, 0)).astype(np.uint8)
            save(Image.fromarray(out), f"proc_{cname}_{mode}_{iname.replace('.', '_')}.png")
print("ok")
