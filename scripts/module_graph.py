#!/usr/bin/env python3
"""The module graph of the vr library, read from the #include lines of include/vr/<module>/ and src/<module>/.

  scripts/module_graph.py            print the graph (Markdown block) to stdout
  scripts/module_graph.py --write    replace the generated block in docs/architecture.md
  scripts/module_graph.py --check    exit 1 when docs/architecture.md is out of date or a layering rule is broken

Layering rules checked: no cycles between modules; text and image depend on core only; no module includes one
from a later layer (LAYERS: core -> text/image -> data/model -> selection/prune -> train/distributed ->
eval/report/study; tools/ sits on top and is not a module of the library).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- module-graph:begin (scripts/module_graph.py --write) -->", "<!-- module-graph:end -->"
INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:vr/)?([a-z_]+)/[^"]+"', re.M)
ONLY = {"text": {"core"}, "image": {"core"}, "core": set()}
LAYERS = [{"core"}, {"text", "image"}, {"data", "model"}, {"selection", "prune"}, {"train", "distributed"},
          {"eval", "report", "study"}]
LAYER_OF = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def modules():
    return sorted(p.name for p in (ROOT / "include" / "vr").iterdir() if p.is_dir())


def graph():
    mods = modules()
    deps = {m: set() for m in mods}
    for m in mods:
        for folder in (ROOT / "include" / "vr" / m, ROOT / "src" / m):
            for f in sorted(folder.rglob("*")) if folder.exists() else []:
                if f.suffix not in (".h", ".cpp"):
                    continue
                for dep in INCLUDE.findall(f.read_text(errors="replace")):
                    if dep in deps and dep != m:
                        deps[m].add(dep)
    return deps


def layer_order(deps):
    """Modules bottom-up (each after everything it includes); raises on a cycle."""
    order, state = [], {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        if state.get(m) == "active":
            raise SystemExit("module cycle: " + " -> ".join(path + [m]))
        state[m] = "active"
        for d in sorted(deps[m]):
            visit(d, path + [m])
        state[m] = "done"
        order.append(m)

    for m in sorted(deps):
        visit(m, [])
    return order


def render(deps):
    order = layer_order(deps)
    width = max(len(m) for m in order)
    lines = [BEGIN, "```", f"{'module'.ljust(width)}  includes (bottom-up: every module only includes modules above it)"]
    for m in order:
        lines.append(f"{m.ljust(width)}  {', '.join(d for d in order if d in deps[m]) or '-'}")
    lines += ["```", END]
    return "\n".join(lines)


def violations(deps):
    out = []
    for m, allowed in ONLY.items():
        if m in deps and not deps[m] <= allowed:
            out.append(f"{m} may include only {sorted(allowed) or 'nothing'}, but includes {sorted(deps[m] - allowed)}")
    for m in sorted(deps):
        if m not in LAYER_OF:
            out.append(f"{m} is in no layer: add it to LAYERS in scripts/module_graph.py")
            continue
        for d in sorted(deps[m]):
            if d in LAYER_OF and LAYER_OF[d] > LAYER_OF[m]:
                out.append(f"{m} (layer {LAYER_OF[m]}) includes {d} from a later layer ({LAYER_OF[d]}): an arrow "
                           f"running back up")
    return out


def main():
    deps = graph()
    block = render(deps)
    problems = violations(deps)
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: no generated block ({BEGIN} ... {END})")
    new = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    if "--write" in sys.argv:
        DOC.write_text(new)
    elif "--check" in sys.argv:
        if new != text:
            problems.append(f"{DOC.relative_to(ROOT)} is out of date: run scripts/module_graph.py --write")
    else:
        print(block)
    for p in problems:
        print("module graph:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
