"""A run's TensorBoard scalars as TensorBoard itself reads them (the oracle of tests/e2e/tensorboard_test.cpp).

  python3 tests/e2e/tensorboard_read.py RUN_DIR

Loads every event file of RUN_DIR with tensorboard's EventAccumulator (the Python loader: it checks both CRCs of
every record, and drops a killed session's steps at a resumed session's SessionLog START) and prints one JSON
object: {"files": N, "tags": {tag: [[step, value], ...]}}. Exits 77 when the tensorboard package is absent
(scripts/oracle.sh installs it), 1 on any error reading the files.
"""
import glob
import json
import os
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
except ImportError as e:
    print(f"tensorboard package not importable ({e}): run scripts/oracle.sh", file=sys.stderr)
    sys.exit(77)


def main():
    run_dir = sys.argv[1]
    files = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    print(json.dumps({"files": len(files), "tags": tags}))


main()
