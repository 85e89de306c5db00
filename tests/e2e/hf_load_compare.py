"""Loads checkpoints written by vrtrain (`train` final/, its PEFT adapter, `prune`, `convert`) in Hugging Face
transformers and records what HF computes on given inputs, for tests/e2e/hf_export_test.cpp to compare with
`vrtrain forward`/`generate`. One process for all cases (importing torch + transformers costs seconds).

  hf_load_compare.py CASES.json

CASES.json is a list of objects:
  model           checkpoint directory; from_pretrained with LlavaForConditionalGeneration for model_type "llava",
                  LlamaForCausalLM for "llama" (eager attention, float32, output_loading_info): any missing,
                  unexpected or mismatched key is an error (exit 3)
  adapter         (optional) a PEFT LoRA adapter directory loaded on `model` with peft's PeftModel.from_pretrained;
                  the adapter's tensors must be exactly the LoRA/modules_to_save state PEFT holds afterwards, bit
                  for bit (exit 3 otherwise). Where peft is not importable the case writes no output and prints
                  "SKIP <output>: <reason>" (the test reports it)
  inputs          safetensors file: input_ids, attention_mask[, pixel_values]
  output          safetensors file to write: `logits` (forward) and, when max_new_tokens > 0, `sequences` (greedy
                  generate with the checkpoint's own generation settings and that many new ids)
  max_new_tokens  int
  expect          (optional) config.json fields the loaded model's config must have, e.g.
                  {"vision_feature_select_strategy": "full"} (exit 3 otherwise)
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration


def load_checked(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        kind = json.load(f)["model_type"]
    cls = LlavaForConditionalGeneration if kind == "llava" else LlamaForCausalLM
    model, info = cls.from_pretrained(model_dir, output_loading_info=True, attn_implementation="eager",
                                      torch_dtype=torch.float32)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        print(f"{model_dir}: loading info not clean: {bad}")
        sys.exit(3)
    return model, kind


def with_peft_adapter(model, adapter_dir):
    """PeftModel on `model`, or a string saying why peft cannot be used here."""
    try:
        from peft import PeftModel
        from peft.utils import get_peft_model_state_dict
    except Exception as e:  # not installed, or not importable with this torch
        return f"peft is not importable ({type(e).__name__}: {e}); install it with scripts/oracle.sh"
    peft_model = PeftModel.from_pretrained(model, adapter_dir)
    # PeftModel.from_pretrained loads with strict=False and discards the report: check the keys ourselves.
    held = get_peft_model_state_dict(peft_model)
    stored = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    if set(held) != set(stored):
        print(f"{adapter_dir}: adapter keys differ from what PEFT holds: only in the file "
              f"{sorted(set(stored) - set(held))[:8]}, only in PEFT {sorted(set(held) - set(stored))[:8]}")
        sys.exit(3)
    for k, t in stored.items():
        if not torch.equal(held[k], t):
            print(f"{adapter_dir}: {k} was not loaded as stored")
            sys.exit(3)
    print(f"{adapter_dir}: PEFT {type(peft_model).__name__}, {len(stored)} adapter tensors, "
          f"modules_to_save {peft_model.peft_config['default'].modules_to_save}")
    return peft_model


def main():
    torch.set_num_threads(1)
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        model_dir, out = case["model"], case["output"]
        model, kind = load_checked(model_dir)
        for key, want in case.get("expect", {}).items():
            got = getattr(model.config, key, None)
            if got != want:
                print(f"{model_dir}: config.{key} is {got!r}, expected {want!r}")
                sys.exit(3)
        name = type(model).__name__
        if case.get("adapter"):
            model = with_peft_adapter(model, case["adapter"])
            if isinstance(model, str):
                print(f"SKIP {out}: {model}")
                continue
            name = f"{name} + PEFT adapter {case['adapter']}"
        model.eval()
        inputs = load_file(case["inputs"])
        kwargs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        if kind == "llava" and "pixel_values" in inputs:
            kwargs["pixel_values"] = inputs["pixel_values"]
        result = {}
        with torch.no_grad():
            result["logits"] = model(**kwargs).logits.float().contiguous()
            if case.get("max_new_tokens", 0) > 0:
                result["sequences"] = model.generate(**kwargs, do_sample=False, num_beams=1, use_cache=True,
                                                     max_new_tokens=case["max_new_tokens"]).contiguous()
        save_file(result, out)
        seq = f", sequences {result['sequences'].tolist()}" if "sequences" in result else ""
        print(f"{model_dir}: {name}, logits {tuple(result['logits'].shape)}{seq}")


if __name__ == "__main__":
    main()
