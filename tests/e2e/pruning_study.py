"""The tiny pruning study of docs/pruning.md: train the tiny LLaVA selectively (the default uniform 25 % = its
visual region), score block influence, prune 2 of its 8 layers by region / bi / last / random, and evaluate the
unpruned and every pruned model on held-out shapes questions (accuracy) and held-out conversations (loss).

  python3 tests/e2e/pruning_study.py [--vrtrain build/vrtrain] [--out runs/pruning_study] [--remove 2]
      [--samples 48] [--threads 2]

Prints every command it runs and, at the end, a Markdown table. Finished steps are reused when rerun.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd, done_marker=None):
    if done_marker and os.path.exists(done_marker):
        return
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vrtrain", default=os.path.join(ROOT, "build", "vrtrain"))
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "pruning_study"))
    p.add_argument("--remove", type=int, default=2)
    p.add_argument("--samples", type=int, default=48)
    p.add_argument("--heldout", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    vr, out = a.vrtrain, os.path.abspath(a.out)
    cfg = os.path.join(ROOT, "configs", "tiny_synthetic.yaml")

    run([vr, "train", "--config", cfg, "--set", f"model.path={out}/model", "--set", f"output_dir={out}/run",
         "--set", "train.save_every=0"], f"{out}/run/final/config.json")
    final = f"{out}/run/final"
    run([vr, "score", "--config", cfg, "--set", f"model.path={final}", "--strategy", "block_influence",
         "--output-dir", f"{out}/score"], f"{out}/score/selection_block_influence.json")
    scores = f"{out}/score/selection_block_influence.json"
    models = {"unpruned": final}
    for m in ["region", "bi", "last", "random"]:
        extra = {"region": ["--region", f"{out}/run", "--scores", scores], "bi": ["--scores", scores],
                 "last": [], "random": ["--seed", "0"]}[m]
        dst = f"{out}/pruned-{m}"
        run([vr, "prune", "--model", final, "--output", dst, "--remove", str(a.remove), "--method", m] + extra,
            f"{dst}/pruning.json")
        models[m] = dst
    run([sys.executable, os.path.join(HERE, "shapes_heldout.py"), f"{out}/heldout", str(a.heldout)],
        f"{out}/heldout/heldout.json")

    rows = []
    for name, model in models.items():
        ev = f"{out}/eval/{name}"
        run([vr, "eval", "--model", model, "--samples", str(a.samples), "--threads", str(a.threads), "--output", ev],
            f"{ev}/shapes.summary.json")
        run([vr, "eval", "--task", "loss", "--model", model, "--data", f"{out}/heldout/heldout.json",
             "--image-folder", f"{out}/heldout", "--threads", str(a.threads), "--output", ev],
            f"{ev}/loss-heldout.summary.json")
        with open(f"{ev}/shapes.summary.json") as f:
            acc = json.load(f)["metrics"]
        with open(f"{ev}/loss-heldout.summary.json") as f:
            loss = json.load(f)["metrics"]
        removed = "-"
        if name != "unpruned":
            with open(f"{model}/pruning.json") as f:
                pj = json.load(f)
            removed = ",".join(str(x) for x in pj["removed_layers"])
            params = pj["parameters_after"]
        else:
            params = None
        rows.append((name, removed, params, acc, loss))

    print("\n| model | removed layers | accuracy (chance) | shape | colour | count | position | loss | perplexity |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, removed, params, acc, loss in rows:
        bt = acc["by_type"]
        lo, ppl = loss["loss"], loss["perplexity"]
        print(f"| {name} | {removed} | {100 * acc['accuracy']:.1f} % ({100 * acc['chance']:.1f} %) | "
              f"{100 * bt['shape']['accuracy']:.1f} | {100 * bt['colour']['accuracy']:.1f} | "
              f"{100 * bt['count']['accuracy']:.1f} | {100 * bt['position']['accuracy']:.1f} | "
              f"{lo:.4f} | {ppl:.2f} |")


if __name__ == "__main__":
    main()
