"""Writes the three small PNG images of the evaluation examples (run once; the PNGs are committed).
Standard library only (zlib + struct): 32x32 RGB, a coloured shape on a white background."""
import struct, zlib, os

def png(path, pixels, w, h):
    raw = b"".join(b"\x00" + bytes(v for px in pixels[y * w:(y + 1) * w] for v in px) for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def draw(shape, colour, w=32, h=32):
    px = []
    for y in range(h):
        for x in range(w):
            inside = (8 <= x < 24 and 8 <= y < 24) if shape == "square" else ((x - 15.5) ** 2 + (y - 15.5) ** 2 <= 64)
            px.append(colour if inside else (255, 255, 255))
    return px

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
os.makedirs(here, exist_ok=True)
png(os.path.join(here, "red_square.png"), draw("square", (220, 30, 30)), 32, 32)
png(os.path.join(here, "blue_circle.png"), draw("circle", (30, 60, 220)), 32, 32)
png(os.path.join(here, "green_square.png"), draw("square", (30, 180, 60)), 32, 32)
