"""Loads checkpoints written by vrtrain (`prune`, `train` final/) in Hugging Face transformers and records what HF
computes on given inputs, for tests/e2e/prune_transformers_test.cpp to compare with `vrtrain forward`/`generate`.

  hf_load_compare.py MAX_NEW_TOKENS DIR INPUTS.safetensors OUT.safetensors [DIR INPUTS OUT ...]

For each DIR: from_pretrained (LlavaForConditionalGeneration for model_type "llava", LlamaForCausalLM for "llama",
eager attention, float32) with output_loading_info; any missing, unexpected or mismatched key is an error (exit 3).
OUT gets `logits` (forward on input_ids, attention_mask[, pixel_values]) and `sequences` (greedy generate with the
checkpoint's own generation settings and MAX_NEW_TOKENS new ids).
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration


def main():
    torch.set_num_threads(1)
    max_new = int(sys.argv[1])
    args = sys.argv[2:]
    for model_dir, inputs_file, out in zip(args[::3], args[1::3], args[2::3]):
        inputs = load_file(inputs_file)
        with open(os.path.join(model_dir, "config.json")) as f:
            kind = json.load(f)["model_type"]
        cls = LlavaForConditionalGeneration if kind == "llava" else LlamaForCausalLM
        model, info = cls.from_pretrained(model_dir, output_loading_info=True, attn_implementation="eager",
                                          torch_dtype=torch.float32)
        bad = {k: v for k, v in info.items() if v}
        if bad:
            print(f"{model_dir}: loading info not clean: {bad}")
            sys.exit(3)
        model.eval()
        kwargs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        if kind == "llava" and "pixel_values" in inputs:
            kwargs["pixel_values"] = inputs["pixel_values"]
        with torch.no_grad():
            logits = model(**kwargs).logits.float()
            seq = model.generate(**kwargs, do_sample=False, num_beams=1, use_cache=True, max_new_tokens=max_new)
        save_file({"logits": logits.contiguous(), "sequences": seq.contiguous()}, out)
        print(f"{model_dir}: {cls.__name__}, {model.num_parameters()} parameters, logits {tuple(logits.shape)}, "
              f"sequences {seq.tolist()}")


if __name__ == "__main__":
    main()
