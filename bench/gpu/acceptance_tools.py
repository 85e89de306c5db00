#!/usr/bin/env python3
"""Oracles of bench/gpu/acceptance.sh (a test/bench helper, never a runtime dependency of vrtrain).

  losses RUN_DIR [--steps 1,30,60]                 the losses at these steps from RUN_DIR/metrics.jsonl
  compare-losses A B --steps 1,30,60 --rtol-first R --rtol-rest R2
                                                    relative loss differences of two runs (exit 1 when over)
  weights A B --base MODEL_DIR [--rtol X]           max |w_A - w_B| over every exported weight, as a share of the
                                                    training delta max |w_B - w_0| (exit 1 when over X)
  env                                               the device's torch / CUDA / cuDNN / NCCL / GPU (needs torch)
  sdpa [--device cuda]                              which SDPA backend torch picks for vrtrain's attention calls
  mfu --config DIR --batch B --merged M --layers 1,2 --method full|lora --seconds S [--peak-tflops P]
                                                    model FLOPs per step (convention in docs/gpu.md) and MFU
Weights are read with a small safetensors reader (json header + numpy), so only numpy is needed where torch is not.
"""
import argparse
import json
import math
import os
import struct
import sys


# ---- metrics and weights -----------------------------------------------------------------------------------------

def read_losses(run_dir):
    out = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                out[int(r["step"])] = float(r["loss"])
    return out


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        raw = data[a:b]
        dt = meta["dtype"]
        if dt == "F32":
            t = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            t = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dt == "BF16":  # bf16 = the high half of an fp32
            t = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif dt == "F64":
            t = np.frombuffer(raw, dtype="<f8")
        else:
            continue  # integer buffers carry no trained weights
        tensors[name] = t
    return tensors


def max_abs_diff(a, b):
    import numpy as np
    m, missing = 0.0, []
    for k, v in a.items():
        if k not in b:
            missing.append(k)
            continue
        if v.size:
            m = max(m, float(np.max(np.abs(v - b[k]))))
    missing += [k for k in b if k not in a]
    return m, missing


def cmd_losses(args):
    l = read_losses(args.run)
    steps = [int(s) for s in args.steps.split(",")]
    print(" ".join(f"{s}:{l[s]:.6f}" if s in l else f"{s}:missing" for s in steps))
    return 0 if all(s in l for s in steps) else 1


def cmd_compare_losses(args):
    a, b = read_losses(args.a), read_losses(args.b)
    steps = [int(s) for s in args.steps.split(",")]
    ok, parts = True, []
    for i, s in enumerate(steps):
        if s not in a or s not in b:
            parts.append(f"step {s}: missing")
            ok = False
            continue
        rel = abs(a[s] - b[s]) / max(abs(b[s]), 1e-12)
        tol = args.rtol_first if i == 0 else args.rtol_rest
        ok &= rel <= tol and math.isfinite(a[s]) and math.isfinite(b[s])
        parts.append(f"step {s}: {a[s]:.5f} vs {b[s]:.5f} (rel {rel:.1e}, tol {tol:g})")
    print("; ".join(parts))
    return 0 if ok else 1


def cmd_weights(args):
    wa = read_safetensors(os.path.join(args.a, "final", "model.safetensors"))
    wb = read_safetensors(os.path.join(args.b, "final", "model.safetensors"))
    w0 = {}
    for f in sorted(os.listdir(args.base)):
        if f.endswith(".safetensors"):
            w0.update(read_safetensors(os.path.join(args.base, f)))
    diff, missing = max_abs_diff(wa, wb)
    # training delta over the tensors the base model has (LoRA exports are merged into the base names)
    delta, _ = max_abs_diff({k: v for k, v in wb.items() if k in w0}, {k: w0[k] for k in wb if k in w0})
    rel = diff / delta if delta > 0 else float("inf")
    identical = diff == 0.0 and not missing
    print(f"max|w_a - w_b| = {diff:.3g}, training delta {delta:.3g}, ratio {rel:.3g} (tol {args.rtol:g})"
          f"{', bit-identical' if identical else ''}{', missing: ' + ','.join(missing[:5]) if missing else ''}")
    return 0 if (not missing and delta > 1e-6 and rel <= args.rtol) else 1


# ---- device ------------------------------------------------------------------------------------------------------

def cmd_env(args):
    import torch
    r = {"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    try:
        r["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:  # noqa: BLE001 - report, do not fail the probe
        r["cudnn"] = f"? ({e})"
    try:
        r["nccl"] = ".".join(str(x) for x in torch.cuda.nccl.version())
    except Exception as e:  # noqa: BLE001
        r["nccl"] = f"? ({e})"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        r["gpu"] = p.name
        r["capability"] = f"{p.major}.{p.minor}"
        r["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)
        r["device_count"] = torch.cuda.device_count()
    r["torch_lib"] = os.path.join(os.path.dirname(torch.__file__), "lib")
    print(json.dumps(r))
    return 0


def cmd_torch_lib_dirs(args):
    """torch/lib and every lib dir of the nvidia-* wheels beside it (CUDA 12: nvidia/<pkg>/lib, CUDA 13:
    nvidia/cu13/lib), colon-separated: the device's own libraries for vrtrain's LD_LIBRARY_PATH."""
    import glob
    import importlib.util
    spec = importlib.util.find_spec("torch")  # without importing torch (seconds saved, no CUDA init)
    if spec is None or not spec.submodule_search_locations:
        return 1
    tdir = list(spec.submodule_search_locations)[0]
    site = os.path.dirname(tdir)
    dirs = [os.path.join(tdir, "lib")]
    for so in sorted(glob.glob(os.path.join(site, "nvidia", "**", "*.so*"), recursive=True)):
        d = os.path.dirname(so)
        if d not in dirs:
            dirs.append(d)
    print(":".join(dirs))
    return 0


def cmd_sdpa(args):
    """SDPA backend choice for the calls vrtrain makes (src/core/torch_compat.cpp: at::scaled_dot_product_attention
    with enable_gqa when nH > nKV, is_causal when the batch has no padding, else an additive mask; towers: no mask).
    Two views: torch._fused_sdp_choice (what the dispatcher picks) and the kernels a profiled forward+backward ran."""
    import torch
    import torch.nn.functional as F
    dev = args.device
    dt = torch.bfloat16
    shapes = [  # name, B, nH, nKV, T, D, causal, padded
        ("LLM Llama-3-8B bf16 causal GQA 32/8, 8x2048", 8, 32, 8, 2048, 128, True, False),
        ("LLM same with padding (additive mask)", 8, 32, 8, 2048, 128, False, True),
        ("LLM Vicuna-7B MHA causal, 8x2048", 8, 32, 32, 2048, 128, True, False),
        ("SigLIP-so400m/384 tower, 8x729, D 72", 8, 16, 16, 729, 72, False, False),
        ("CLIP ViT-L/336 tower, 8x577, D 64", 8, 16, 16, 577, 64, False, False),
    ]
    try:
        from torch.nn.attention import SDPBackend
        names = {int(m.value): n for n, m in SDPBackend.__members__.items()}
    except Exception:  # noqa: BLE001
        names = {0: "MATH", 1: "FLASH_ATTENTION", 2: "EFFICIENT_ATTENTION", 3: "CUDNN_ATTENTION"}
    results = []
    for name, B, nH, nKV, T, D, causal, padded in shapes:
        g = torch.Generator(device=dev).manual_seed(0)
        q = torch.randn(B, nH, T, D, device=dev, dtype=dt, generator=g, requires_grad=True)
        k = torch.randn(B, nKV, T, D, device=dev, dtype=dt, generator=g, requires_grad=True)
        v = torch.randn(B, nKV, T, D, device=dev, dtype=dt, generator=g, requires_grad=True)
        mask = None
        if padded:  # causal + left padding of 16 positions in row 0, as vrtrain's additive mask
            m = torch.full((T, T), float("-inf"), device=dev).triu(1)
            mask = m.expand(B, 1, T, T).clone()
            mask[0, :, :, :16] = float("-inf")
            mask[0, :, :16, :16] = 0  # keep padded rows finite
            mask = mask.to(dt)
        gqa = nH != nKV
        kw = {"enable_gqa": True} if gqa else {}
        choice = "?"
        try:  # scale and enable_gqa are keyword-only
            c = torch._fused_sdp_choice(q, k, v, mask, 0.0, causal, scale=None, enable_gqa=gqa)
            choice = names.get(int(c), str(c))
        except Exception as e:  # noqa: BLE001
            choice = f"? ({type(e).__name__}: {str(e)[:80]})"
        keys = []
        try:
            from torch.profiler import ProfilerActivity, profile
            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev == "cuda" else [])
            with profile(activities=acts) as prof:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, **kw)
                out.float().sum().backward()
                if dev == "cuda":
                    torch.cuda.synchronize()
            keys = [e.key for e in prof.key_averages()]
        except Exception as e:  # noqa: BLE001
            keys = [f"profiler failed: {e}"]
        # The aten op the dispatcher ran names the backend unambiguously; kernel names are the fallback.
        low = [k_.lower() for k_ in keys]
        ran = "?"
        for backend, needles in (("flash", ("_scaled_dot_product_flash_attention",)),
                                 ("efficient", ("_scaled_dot_product_efficient_attention", "_efficient_attention")),
                                 ("cudnn", ("_scaled_dot_product_cudnn_attention",)),
                                 ("math", ("_scaled_dot_product_attention_math",))):
            if any(n in k_ for k_ in low for n in needles):
                ran = backend
                break
        if ran == "?":
            joined = " ".join(low)
            ran = ("flash" if "flash_fwd" in joined else "efficient" if "fmha_cutlass" in joined
                   else "cudnn" if "cudnn" in joined else "?")
        kernels = [k_[:90] for k_ in keys if any(n in k_.lower() for n in ("attention", "flash", "fmha", "sdpa", "cudnn"))]
        results.append({"shape": name, "choice": choice, "kernels_ran": ran, "kernels": kernels[:6]})
        print(f"{name}: dispatcher {choice}, profiled kernels: {ran}")
    with open(args.json, "w") if args.json else open(os.devnull, "w") as f:
        json.dump(results, f, indent=1)
    return 0


# ---- FLOPs -------------------------------------------------------------------------------------------------------

def model_flops(cfg, batch, merged, layers, method, lora_r, lora_targets, projector_trains=True):
    """Model FLOPs of one training step (recompute not counted), the convention of docs/gpu.md:
      LLM forward 2·N per token for every layer and lm_head, attention 4·M·H_q per token and layer (scores and
      values, causal not halved); backward: input gradients (2·N + 8·M·H_q per token: 2x the attention forward)
      for lm_head and the layers at and above the lowest trained part (a trained projector feeds layer 0, so then
      every layer), weight gradients 2·N_trained per token (LoRA: the adapters' forward, input and weight
      gradients); the vision tower forward 2·P_v per patch plus its attention (frozen: no backward); the projector
      forward, weight gradients and the gradient between its two linears (~3x its forward)."""
    t, v = cfg["text_config"], cfg["vision_config"]
    H, I, L, V = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"], t["vocab_size"]
    nH = t["num_attention_heads"]
    nKV = t.get("num_key_value_heads", nH)
    hd = t.get("head_dim") or H // nH
    q, kv = nH * hd, nKV * hd
    shapes = {"q_proj": (H, q), "k_proj": (H, kv), "v_proj": (H, kv), "o_proj": (q, H),
              "gate_proj": (H, I), "up_proj": (H, I), "down_proj": (I, H)}
    layer_n = sum(a * b for a, b in shapes.values())
    N = batch * merged
    attn_fwd = 4.0 * merged * q * N  # per layer: q·k^T and p·v, 2·M·q each per token (x2 for multiply-add)
    fwd = L * (2.0 * layer_n * N + attn_fwd) + 2.0 * H * V * N
    lowest = 0 if projector_trains else (min(layers) if layers else L)
    above = L - lowest
    bwd_input = above * (2.0 * layer_n * N + 2.0 * attn_fwd) + 2.0 * H * V * N
    if method == "lora":
        lora_n = sum(lora_r * (shapes[t_][0] + shapes[t_][1]) for t_ in lora_targets)
        # adapters: forward + input and weight gradients of A and B (small), per trained layer
        fwd += len(layers) * 2.0 * lora_n * N
        wgrad = len(layers) * 2.0 * lora_n * N + len(layers) * 2.0 * lora_n * N
    else:
        wgrad = len(layers) * 2.0 * layer_n * N
    vd, vi, vl = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    patches = (v["image_size"] // v["patch_size"]) ** 2
    pv = vl * (4 * vd * vd + 2 * vd * vi) + 3 * v["patch_size"] ** 2 * vd
    vision = batch * (2.0 * pv * patches + vl * 4.0 * patches * vd * patches)
    proj = 2.0 * batch * patches * (vd * H + H * H)
    projector = 3 * proj if projector_trains else proj
    return {"llm_forward": fwd, "llm_backward_input": bwd_input, "weight_grads": wgrad, "vision_forward": vision,
            "projector": projector, "total": fwd + bwd_input + wgrad + vision + projector,
            "llm_only": fwd + bwd_input + wgrad}


def cmd_mfu(args):
    with open(os.path.join(args.config, "config.json")) as f:
        cfg = json.load(f)
    layers = [int(x) for x in args.layers.split(",") if x != ""]
    fl = model_flops(cfg, args.batch, args.merged, layers, args.method, args.lora_r, args.lora_targets.split(","),
                     not args.frozen_projector)
    peak = args.peak_tflops * 1e12
    r = {"flops_per_step": fl, "seconds": args.seconds, "peak_tflops": args.peak_tflops,
         "mfu": fl["total"] / args.seconds / peak, "mfu_llm_only": fl["llm_only"] / args.seconds / peak,
         "tokens_per_s": args.batch * args.merged / args.seconds}
    if args.line:
        print(f"MFU {100 * r['mfu']:.1f}% (LLM only {100 * r['mfu_llm_only']:.1f}%), "
              f"{fl['total'] / 1e12:.1f} TFLOP/step")
    else:
        print(json.dumps(r))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("losses"); p.add_argument("run"); p.add_argument("--steps", default="1,30,60")
    p = sub.add_parser("compare-losses"); p.add_argument("a"); p.add_argument("b")
    p.add_argument("--steps", default="1,30,60"); p.add_argument("--rtol-first", type=float, default=1e-3)
    p.add_argument("--rtol-rest", type=float, default=3e-2)
    p = sub.add_parser("weights"); p.add_argument("a"); p.add_argument("b"); p.add_argument("--base", required=True)
    p.add_argument("--rtol", type=float, default=1e-5)
    sub.add_parser("env")
    sub.add_parser("torch-lib-dirs")
    p = sub.add_parser("sdpa"); p.add_argument("--device", default="cuda"); p.add_argument("--json", default="")
    p = sub.add_parser("mfu"); p.add_argument("--config", required=True); p.add_argument("--batch", type=int)
    p.add_argument("--merged", type=int); p.add_argument("--layers", default="")
    p.add_argument("--method", default="full"); p.add_argument("--lora-r", type=int, default=128)
    p.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    p.add_argument("--seconds", type=float, required=True); p.add_argument("--peak-tflops", type=float, default=989.0)
    p.add_argument("--frozen-projector", action="store_true")
    p.add_argument("--line", action="store_true", help="one human-readable line instead of JSON")
    args = ap.parse_args()
    fn = {"losses": cmd_losses, "compare-losses": cmd_compare_losses, "weights": cmd_weights, "env": cmd_env,
          "torch-lib-dirs": cmd_torch_lib_dirs, "sdpa": cmd_sdpa, "mfu": cmd_mfu}[args.cmd]
    sys.exit(fn(args))


if __name__ == "__main__":
    main()
