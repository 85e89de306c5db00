#!/usr/bin/env bash
# Data-parallel figures for docs/benchmarks.md on the tiny llava model (CPU, Gloo over loopback):
#   bytes all-reduced per step (full vs 25 % selective), optimizer state per rank (full tuning, unsharded vs
#   dist.shard_optimizer), step time 1 vs 2 ranks at the same global batch (8), and the communication wait after
#   backward with and without overlap (small buckets so there are several).
#   bench/ddp_bench.sh [build/vrtrain]      # prints one line per measurement and round
# The timed runs are interleaved (1 rank, 2 ranks, overlap, no overlap; ROUNDS times) so a machine whose load
# changes over time (shared CI, other jobs) biases every configuration alike; each figure is the mean over steps
# 3.. of metrics.jsonl (the first steps warm up allocators and the store).
set -euo pipefail
VRTRAIN=${1:-build/vrtrain}
ROUNDS=${ROUNDS:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$VRTRAIN" make-tiny --family llava --output "$OUT/tiny" --seed 0 > /dev/null
COMMON="--set model.path=$OUT/tiny --set train.max_steps=${STEPS:-12} --set train.save_every=0 --set train.export_final=false \
 --set data.num_workers=1 --set train.log_every=100"
mean() { python3 -c "import json,sys; v=[json.loads(l)['$2'] for l in open('$1/metrics.jsonl')][2:]; print(f'{sum(v)/len(v):.4f}')"; }
first() { python3 -c "import json; print(json.loads(open('$1/metrics.jsonl').readline())['$2'])"; }
port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
run1() { "$VRTRAIN" train --config configs/tiny_synthetic.yaml $COMMON --set output_dir="$OUT/$1" "${@:2}" > "$OUT/$1.log" 2>&1; }
run2() { "$VRTRAIN" launch --nproc-per-node 2 --master-port "$(port)" -- train --config configs/tiny_synthetic.yaml $COMMON \
           --set output_dir="$OUT/$1" "${@:2}" > "$OUT/$1.log" 2>&1; }

run2 sel --set train.batch_size=4
run2 full --config configs/tiny_full.yaml --set train.batch_size=4
run2 zero --config configs/tiny_full.yaml --set train.batch_size=4 --set dist.shard_optimizer=true
echo "allreduce_bytes per step: selective $(first "$OUT/sel" allreduce_bytes), full $(first "$OUT/full" allreduce_bytes)"
echo "optimizer_state_bytes per rank (full tuning, 2 ranks): unsharded $(first "$OUT/full" optimizer_state_bytes)," \
     "sharded $(first "$OUT/zero" optimizer_state_bytes); step_time_s unsharded $(mean "$OUT/full" step_time_s)," \
     "sharded $(mean "$OUT/zero" step_time_s)"
for r in $(seq 1 "$ROUNDS"); do
  run1 one$r --set train.batch_size=8 --set train.num_threads=2
  run2 two$r --set train.batch_size=4
  run2 ov$r --set train.batch_size=4 --set dist.bucket_mb=0.05
  run2 noov$r --set train.batch_size=4 --set dist.bucket_mb=0.05 --set dist.overlap=false
  echo "round $r: step_time_s 1 rank x b8 (2 threads) $(mean "$OUT/one$r" step_time_s)," \
       "2 ranks x b4 (1 thread each) $(mean "$OUT/two$r" step_time_s);" \
       "bucket 0.05 MiB: comm_wait_s overlap $(mean "$OUT/ov$r" comm_wait_s) (step $(mean "$OUT/ov$r" step_time_s))," \
       "no overlap $(mean "$OUT/noov$r" comm_wait_s) (step $(mean "$OUT/noov$r" step_time_s))"
done
