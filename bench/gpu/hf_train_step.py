#!/usr/bin/env python3
"""The Hugging Face side of step 8 of bench/gpu/acceptance.sh: training steps of transformers'
LlavaForConditionalGeneration built from the same config.json as the vrtrain run (random init, no weights read),
the same trainable set (the projector + the selected LLM layers, fully or through LoRA adapters), gradient
checkpointing, SDPA attention, the same micro-batch (B rows of one image + text, expanded image tokens), AdamW.
Prints one JSON line per method. Reference only (never a runtime dependency of vrtrain).

    python3 bench/gpu/hf_train_step.py --model DIR --batch 8 --text-tokens 1320 --layers 2 \
        --methods full,lora [--steps 5] [--warmup 2] [--device cuda] [--dtype bf16] [--checkpointing]

LoRA: a minimal adapter on each target projection of the selected layers (y = Wx + (alpha/r)·B·A·dropout(x),
A Kaiming-uniform, B zero, as vrtrain's), so peft is not needed on the device.
"""
import argparse
import contextlib
import json
import math
import statistics
import time

import torch
import transformers

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True, help="directory with config.json (llava-hf layout)")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--text-tokens", type=int, default=1320)
ap.add_argument("--layers", required=True, help="trained LLM layers, e.g. 2 or 1,3")
ap.add_argument("--methods", default="full,lora")
ap.add_argument("--lora-r", type=int, default=128)
ap.add_argument("--lora-alpha", type=float, default=256)
ap.add_argument("--lora-dropout", type=float, default=0.05)
ap.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--device", default="cuda")
ap.add_argument("--dtype", default="bf16")
ap.add_argument("--attn", default="sdpa")
ap.add_argument("--checkpointing", action="store_true")
args = ap.parse_args()

dev = torch.device(args.device)
dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
torch.manual_seed(0)
cfg = transformers.AutoConfig.from_pretrained(args.model)
attn = args.attn
if attn == "sdpa" and not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
    attn = "eager"  # torch 1.x (the CPU dry run): no SDPA
t0 = time.perf_counter()
# Built on the device directly (random init there: seconds instead of minutes for 2e9 parameters on the CPU);
# torch 1.x (the CPU dry run) has no device context and needs none.
with torch.device(dev) if hasattr(torch.device, "__enter__") else contextlib.nullcontext():
    try:
        model = transformers.LlavaForConditionalGeneration._from_config(cfg, attn_implementation=attn, dtype=dtype)
    except TypeError:  # transformers 4.x: torch_dtype
        model = transformers.LlavaForConditionalGeneration._from_config(cfg, attn_implementation=attn,
                                                                        torch_dtype=dtype)
model.to(dev)
build_s = time.perf_counter() - t0


def find(suffix, kind=None):
    for name, m in model.named_modules():
        if name.endswith(suffix) and (kind is None or isinstance(m, kind)):
            return name, m
    raise SystemExit(f"hf_train_step: no module ending in {suffix!r}")


_, lm_layers = find("layers", torch.nn.ModuleList)
lm_layers_name = [n for n, m in model.named_modules() if m is lm_layers][0]
if "language_model" not in lm_layers_name:  # the first ModuleList named layers must be the LLM's, not the tower's
    lm_layers_name, lm_layers = next((n, m) for n, m in model.named_modules()
                                     if n.endswith("layers") and "language_model" in n
                                     and isinstance(m, torch.nn.ModuleList))
_, projector = find("multi_modal_projector")
layers = [int(x) for x in args.layers.split(",") if x != ""]


class LoraLinear(torch.nn.Module):
    def __init__(self, base, r, alpha, p):
        super().__init__()
        self.base = base
        self.A = torch.nn.Parameter(torch.empty(r, base.in_features, device=base.weight.device, dtype=base.weight.dtype))
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, r, device=base.weight.device, dtype=base.weight.dtype))
        torch.nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = alpha / r
        self.drop = torch.nn.Dropout(p)

    def forward(self, x):
        return self.base(x) + (self.drop(x) @ self.A.t() @ self.B.t()) * self.scale


def configure(method):
    """Freeze everything, then train the projector and the selected layers (their tensors or LoRA adapters)."""
    for p in model.parameters():
        p.requires_grad_(False)
    for p in projector.parameters():
        p.requires_grad_(True)
    targets = args.lora_targets.split(",")
    for i in layers:
        layer = lm_layers[i]
        if method == "full":
            for p in layer.parameters():
                p.requires_grad_(True)
            continue
        for parent_name, parent in list(layer.named_modules()):
            for child_name, child in list(parent.named_children()):
                if child_name in targets and isinstance(child, torch.nn.Linear):
                    lora = LoraLinear(child, args.lora_r, args.lora_alpha, args.lora_dropout)
                    setattr(parent, child_name, lora)
                    lora.A.requires_grad_(True)
                    lora.B.requires_grad_(True)
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    return [p for p in model.parameters() if p.requires_grad]


def unwrap_lora():
    for layer in lm_layers:
        for parent in list(layer.modules()):
            for child_name, child in list(parent.named_children()):
                if isinstance(child, LoraLinear):
                    setattr(parent, child_name, child.base)


# One image per row right after BOS, then text; labels on the text only (image slots and BOS -100). transformers
# >= 4.47 takes the processor's expansion (image_seq_length image tokens); 4.44 (the CPU dry run's oracle) only its
# legacy form, one image token it expands itself. Either way the model sees T - 1 + image_seq_length positions.
vc = cfg.vision_config
n_img = (vc.image_size // vc.patch_size) ** 2
image_id = getattr(cfg, "image_token_id", None)
if image_id is None:
    image_id = cfg.image_token_index
major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
expanded = (major, minor) >= (4, 47)
B, T = args.batch, args.text_tokens
g = torch.Generator().manual_seed(1)
text = torch.randint(3, 256, (B, T), generator=g)
slots = n_img if expanded else 1
ids = torch.cat([text[:, :1], torch.full((B, slots), image_id), text[:, 1:]], 1)
labels = ids.clone()
labels[:, : 1 + slots] = -100
merged = T - 1 + n_img
inputs = dict(input_ids=ids.to(dev), attention_mask=torch.ones_like(ids).to(dev), labels=labels.to(dev),
              pixel_values=torch.randn(B, 3, vc.image_size, vc.image_size, generator=g).to(dev, dtype))

model.train()
for method in args.methods.split(","):
    params = configure(method)
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        out = model(**inputs)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.item()  # synchronizes
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        losses.append(loss)
        if s >= args.warmup:
            times.append(dt)
        del out
    r = {"framework": "hf", "method": method, "layers": layers, "attention": attn, "dtype": args.dtype,
         "checkpointing": args.checkpointing, "batch": B, "merged_tokens": merged, "image_tokens": n_img,
         "step_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
         "tokens_per_s": B * merged / statistics.median(times), "first_loss": losses[0],
         "finite": all(math.isfinite(x) for x in losses), "trainable": trainable,
         "total": sum(p.numel() for p in model.parameters()), "build_s": round(build_s, 2),
         "torch": torch.__version__, "transformers": transformers.__version__}
    if dev.type == "cuda":
        r["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        r["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    print(json.dumps(r), flush=True)
    del opt, params
    unwrap_lora()
    if args.checkpointing:
        model.gradient_checkpointing_disable()
