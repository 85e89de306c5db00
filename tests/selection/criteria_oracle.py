"""Reference values for tests/selection/criteria_oracle_test.cpp, computed independently of vrtrain.

  criteria_oracle.py angular EXPECTED.safetensors OUT.json [HIDDEN.safetensors]
      NumPy: angular distances d_n(l) = mean over valid merged positions of arccos(clip(cos(h_l, h_end), -1, 1)) / pi,
      end = min(l + n, L), for n = 1, 2, 3, from the fixture's hidden states (float32 -> float64); and the INTERLACE
      similarities s_k(i) = mean cos(h_i, h_{i+k}) for i + k <= L - 1 (None elsewhere). The hidden states come from
      HIDDEN when given (layer_scores/llava_clip keeps them in llava/expected_legacy.safetensors), else EXPECTED.
  criteria_oracle.py lc MODEL_DIR INPUTS.safetensors EXPECTED.safetensors OUT.json
      transformers 4.44.2: ShortV layer contribution LC_i = mean KL(P_M || P_{M_i^V}) over the positions t with
      merged_labels[t + 1] != -100, where M_i^V is the model with a forward hook on decoder layer i that puts the
      layer's input back at the image slots (image_mask of the fixture) -- written from the paper, not from vrtrain.
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file


def angular(expected, out, hidden=None):
    e = load_file(expected)
    h = load_file(hidden) if hidden else e
    hs = []
    while f"hidden_states.{len(hs)}" in h:
        hs.append(h[f"hidden_states.{len(hs)}"].astype(np.float64))
    L = len(hs) - 1
    valid = e["merged.attention_mask"].astype(bool)

    @np.errstate(invalid="ignore")  # zero vectors at padded positions (masked out)
    def cos(a, b):
        return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))

    res = {}
    for n in (1, 2, 3):
        res[f"angular{n}"] = [
            float((np.arccos(np.clip(cos(hs[l], hs[min(l + n, L)]), -1, 1)) / math.pi)[valid].mean()) for l in range(L)
        ]
    for k in (1, 2, 3):
        res[f"s{k}"] = [float(cos(hs[i], hs[i + k])[valid].mean()) if i + k <= L - 1 else None for i in range(L)]
    json.dump(res, open(out, "w"))


def layer_contribution(model_dir, inputs, expected, out):
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.set_num_threads(1)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, attn_implementation="eager").eval()
    x = {k: torch.from_numpy(v) for k, v in load_file(inputs).items()}
    e = load_file(expected)
    image = torch.from_numpy(e["image_mask"]).bool()  # [B, M]
    labels = torch.from_numpy(e["merged.labels"])
    where = torch.zeros_like(image)
    where[:, :-1] = labels[:, 1:] != -100

    def logits():
        with torch.no_grad():
            return model(input_ids=x["input_ids"], attention_mask=x["attention_mask"], pixel_values=x["pixel_values"],
                         use_cache=False).logits.double()

    ref = torch.log_softmax(logits(), -1)
    layers = model.language_model.model.layers
    lc = []
    for i in range(len(layers)):
        def keep_image_tokens(module, args, output):
            h = torch.where(image.unsqueeze(-1), args[0], output[0])
            return (h,) + tuple(output[1:])

        handle = layers[i].register_forward_hook(keep_image_tokens)
        alt = torch.log_softmax(logits(), -1)
        handle.remove()
        kl = (ref.exp() * (ref - alt)).sum(-1)  # [B, M]
        lc.append(float(kl[where].mean()))
    json.dump({"layer_contribution": lc, "positions": int(where.sum())}, open(out, "w"))


if __name__ == "__main__":
    if sys.argv[1] == "angular":
        angular(*sys.argv[2:5])
    elif sys.argv[1] == "lc":
        layer_contribution(*sys.argv[2:6])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
