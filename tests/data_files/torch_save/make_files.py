"""Writes small files in the exact torch.save (zip, protocol 2) format WITHOUT torch, for the C++ loader tests.

torch.save(obj, f) writes a zip archive (stored, uncompressed) with:
  archive/data.pkl   pickle of obj; each tensor is reduced to torch._utils._rebuild_tensor_v2(storage, offset,
                     size, stride, requires_grad, backward_hooks=OrderedDict()), and each storage is a persistent id
                     ('storage', torch.<Type>Storage, key, location, numel) -> record archive/data/<key>
  archive/data/<key> raw little-endian storage bytes
  archive/version    "3\n"
Here fake `torch` / `torch._utils` modules provide the names pickle records; the bytes are what torch writes.
Run: python3 make_files.py  (creates mm_projector.bin, ordered_dict.bin, not_a_dict.bin, with_int.bin)
"""
import collections
import io
import pickle
import struct
import sys
import types
import zipfile

torch = types.ModuleType("torch")
utils = types.ModuleType("torch._utils")
torch._utils = utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = utils


def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
    raise RuntimeError


_rebuild_tensor_v2.__module__ = "torch._utils"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage


class Storage:
    def __init__(self, key, values):
        self.key, self.values = key, values


class Tensor:
    def __init__(self, storage, size):
        self.storage, self.size = storage, size

    def __reduce__(self):
        stride, acc = [], 1
        for s in reversed(self.size):
            stride.insert(0, acc)
            acc *= s
        return (_rebuild_tensor_v2, (self.storage, 0, tuple(self.size), tuple(stride), False, collections.OrderedDict()))


def save(obj, path, storages):
    buf = io.BytesIO()

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                return ("storage", FloatStorage, o.key, "cpu", len(o.values))
            return None

    P(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for s in storages:
            z.writestr("archive/data/" + s.key, struct.pack("<%df" % len(s.values), *s.values))
        z.writestr("archive/version", "3\n")


def tensor(key, size, start):
    n = 1
    for s in size:
        n *= s
    st = Storage(key, [start + 0.5 * i for i in range(n)])
    return Tensor(st, size), st


# LLaVA's stage-1 file: a plain dict of the four projector tensors (Dv=3, H=2).
w0, s0 = tensor("0", [2, 3], 1.0)
b0, s1 = tensor("1", [2], -1.0)
w2, s2 = tensor("2", [2, 2], 0.25)
b2, s3 = tensor("3", [2], 2.0)
proj = {"model.mm_projector.0.weight": w0, "model.mm_projector.0.bias": b0,
        "model.mm_projector.2.weight": w2, "model.mm_projector.2.bias": b2}
save(proj, "mm_projector.bin", [s0, s1, s2, s3])
save(collections.OrderedDict(proj), "ordered_dict.bin", [s0, s1, s2, s3])
save([w0], "not_a_dict.bin", [s0])
save({"model.mm_projector.0.weight": w0, "step": 7}, "with_int.bin", [s0])
