#!/usr/bin/env bash
# Data-parallel figures for docs/benchmarks.md on the tiny llava model (CPU, Gloo over loopback):
#   bytes all-reduced per step (full vs 25 % selective), step time 1 vs 2 ranks at the same global batch (8),
#   and the communication wait after backward with and without overlap (small buckets so there are several).
#   bench/ddp_bench.sh [build/vrtrain]      # prints one line per measurement
set -euo pipefail
VRTRAIN=${1:-build/vrtrain}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$VRTRAIN" make-tiny --family llava --output "$OUT/tiny" --seed 0 > /dev/null
COMMON="--set model.path=$OUT/tiny --set train.max_steps=${STEPS:-12} --set train.save_every=0 --set train.export_final=false \
 --set data.num_workers=1 --set train.log_every=100"
# mean of a metrics.jsonl field over steps 3.. (the first steps warm up allocators and the store)
mean() { python3 -c "import json,sys; v=[json.loads(l)['$2'] for l in open('$1/metrics.jsonl')][2:]; print(f'{sum(v)/len(v):.4f}')"; }
port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
run1() { "$VRTRAIN" train --config configs/tiny_synthetic.yaml $COMMON --set output_dir="$OUT/$1" "${@:2}" > "$OUT/$1.log" 2>&1; }
run2() { "$VRTRAIN" launch --nproc-per-node 2 --master-port "$(port)" -- train --config configs/tiny_synthetic.yaml $COMMON \
           --set output_dir="$OUT/$1" "${@:2}" > "$OUT/$1.log" 2>&1; }

run2 sel --set train.batch_size=4
run2 full --config configs/tiny_full.yaml --set train.batch_size=4
echo "allreduce_bytes per step: selective $(mean "$OUT/sel" allreduce_bytes), full $(mean "$OUT/full" allreduce_bytes)"
run1 one --set train.batch_size=8 --set train.num_threads=2
echo "step_time_s 1 rank x b8 (2 threads): $(mean "$OUT/one" step_time_s)"
echo "step_time_s 2 ranks x b4 (1 thread each): $(mean "$OUT/sel" step_time_s)"
run2 ov --set train.batch_size=4 --set dist.bucket_mb=0.05
run2 noov --set train.batch_size=4 --set dist.bucket_mb=0.05 --set dist.overlap=false
echo "comm_wait_s (bucket 0.05 MiB): overlap $(mean "$OUT/ov" comm_wait_s) / step $(mean "$OUT/ov" step_time_s), no overlap $(mean "$OUT/noov" comm_wait_s) / step $(mean "$OUT/noov" step_time_s)"
