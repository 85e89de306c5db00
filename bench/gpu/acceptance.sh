#!/usr/bin/env bash
# The CUDA acceptance run of vrtrain: one command on a GPU machine that proves the CUDA path end to end, within
# ~8 minutes, with the bundle of scripts/device_bundle.sh (device/, carried with the working tree). docs/gpu.md says
# what each step proves and what one GPU cannot.
#
#   bench/gpu/acceptance.sh              # on the GPU machine, from the repository root; summary + logs in $OUT
#   bench/gpu/acceptance.sh --dry-run    # anywhere (automatic without nvidia-smi): every step the CPU can run,
#                                        # device-only parts printed as SKIP
#   bench/gpu/acceptance.sh --only 1,3   # a subset
#
#   1 environment      GPU, driver, torch/CUDA/cuDNN/NCCL, the bundle's build versions, ldd, vrtrain --version
#   2 SDPA backend     what torch picks for vrtrain's attention calls (LLM bf16 causal GQA, SigLIP, CLIP): flash?
#   3 CPU vs CUDA      the tiny fp32 run (60 steps) on CUDA against the same run on the CPU: losses at 1/30/60
#   4 LoRA dropout     on CUDA: checkpointing on = off (the recompute replays the dropout masks), stop/resume =
#                      uninterrupted (CUDA RNG saved and restored)
#   5 bf16             bf16 with checkpointing trains (loss halves in 30 steps)
#   6 DDP on CUDA      2 Gloo ranks on one GPU = 1 process with accumulation 2, checkpointing x ZeRO
#   7 NCCL             world size 1 over NCCL = 1 process
#   8 real width       Bunny-8B-wide layers (4096/14336, 32/8 heads, vocab 128256, SigLIP-so400m/384), 4 LLM layers,
#                      25 % selective and LoRA, bf16, checkpointing, 8 x 2048 merged tokens: step time, tokens/s,
#                      MFU, GPU memory against `vrtrain bench --plan`, and transformers on the same shapes
#   9 packing          data.packing: one step over the same 12 samples packed (per-sample attention) and padded
#                      gives the same loss and gradient norm (token normalisation)
#  10 packing speed    useful tokens/s packed vs unpacked (grouped by modality length) on a text-only length mix,
#                      Bunny-8B-wide layers, bf16, checkpointing, rows of 2048
#
# Env: OUT (default /tmp/vr-acceptance-out), VR_ACCEPT_WORK (scratch, default /tmp/vr-acceptance),
#      VR_ACCEPT_BUDGET_S (default 470), VRTRAIN (default device/bin/vrtrain), VR_PYTHON (default python3),
#      VR_TORCH_LIB_DIRS (torch + CUDA library dirs; default: python3's torch, or in a dry run the build's LibTorch),
#      VR_PEAK_TFLOPS (default: from the GPU name; H100/H200 SXM bf16 dense 989), VR_ACCEPT_TIME_SCALE (multiplies
#      the step limits; a dry run defaults to 8 and a 2400 s budget). Dry run here: VR_PYTHON=/usr/bin/python3 and
#      PYTHONPATH=/opt/vr-oracle (numpy, and transformers for step 8's plumbing).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SELF="$ROOT/bench/gpu/acceptance.sh"
TOOLS="$ROOT/bench/gpu/acceptance_tools.py"

# ---- the per-step child: the parent re-runs this script under `timeout` for each step ----------------------------
if [ -n "${VR_ACCEPT_CHILD:-}" ]; then
  set +e  # a step reports its own failures as CHECK lines; a command failing must not end the step silently
  vr() { LD_LIBRARY_PATH="$VR_LD" "$VRTRAIN" "$@"; }
  check() {  # PASS|FAIL|SKIP text (anything else, e.g. a traceback's first word, is a FAIL)
    case "$1" in PASS|FAIL|SKIP) echo "CHECK $1 $2" ;; *) echo "CHECK FAIL unexpected output: $1 $2" ;; esac
  }
  info() { echo "INFO $*"; }
  free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  tiny() {  # the tiny llava model every small step trains (seed 5, as tests/distributed)
    if [ ! -f "$WORK/tiny/config.json" ]; then vr make-tiny --output "$WORK/tiny" --family llava --seed 5 > /dev/null; fi
    echo "$WORK/tiny"
  }
  train_args() {  # OUT_DIR: the tiny synthetic run of configs/tiny_synthetic.yaml on $WORK/tiny
    echo "--config $ROOT/configs/tiny_synthetic.yaml --set model.path=$(tiny) --set output_dir=$1" \
         "--set train.save_every=0 --set data.num_workers=1 --set train.log_every=10"
  }
  ddp_args() {  # OUT_DIR B ACCUM: a 3-step run (tests/distributed/vrtrain_runs.cpp: ddp_train_args)
    echo "train --config $ROOT/configs/tiny_synthetic.yaml --set model.path=$(tiny) --set output_dir=$1" \
         "--set train.batch_size=$2 --set train.grad_accum=$3 --set train.max_steps=3 --set train.save_every=0" \
         "--set train.num_threads=1 --set data.num_workers=1 --set data.synthetic.num_samples=48" \
         "--set train.log_every=1 --set dist.timeout_s=60 --set dist.init_timeout_s=60"
  }
  run() {  # LOG CMD...: run, keep the output in $OUT/logs, return its status
    local log=$1; shift
    "$@" > "$OUT/logs/$log" 2>&1
  }
  # The GPU's memory in use, sampled every 100 ms while a command runs (MiB; whole device, CUDA context included).
  smi_start() {
    : > "$1"; SMI_PID=""
    command -v nvidia-smi > /dev/null || return 0
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$1" 2> /dev/null & SMI_PID=$!
  }
  smi_stop() {
    [ -n "$SMI_PID" ] && { kill "$SMI_PID" 2> /dev/null; wait "$SMI_PID" 2> /dev/null; }
    sort -n "$1" | tail -1 | tr -dc '0-9'; echo
  }

  step1() {
    local v
    v=$(vr --version 2>&1); local rc=$?
    if [ $rc -eq 0 ]; then check PASS "vrtrain --version: $(echo "$v" | tr '\n' ' ' | cut -c1-300)"
    else check FAIL "vrtrain --version exited $rc: $(echo "$v" | tail -3 | tr '\n' ' ')"; fi
    info "bundle: $(tr -d '\n' < "$DEV_DIR/versions.json" | tr -s ' ' | cut -c1-600)"
    local missing=0 objs=("$VRTRAIN" "$DEV_DIR"/lib/*.so*)
    for o in "${objs[@]}"; do
      LD_LIBRARY_PATH="$VR_LD" ldd "$o" > "$OUT/logs/ldd_$(basename "$o").txt" 2>&1
      if grep -q "not found" "$OUT/logs/ldd_$(basename "$o").txt"; then
        missing=$((missing + 1)); echo "missing for $o:"; grep "not found" "$OUT/logs/ldd_$(basename "$o").txt"
      fi
    done
    local torch_resolved
    torch_resolved=$(LD_LIBRARY_PATH="$VR_LD" ldd "$VRTRAIN" | awk '/libtorch_cuda.so/ {print $3}')
    if [ $missing -eq 0 ]; then check PASS "ldd: ${#objs[@]} objects, nothing missing; libtorch_cuda from $torch_resolved ($TORCH_SRC)"
    else check FAIL "ldd: $missing of ${#objs[@]} objects miss libraries (logs/ldd_*.txt)"; fi
    if [ "$DRY" = 1 ]; then
      check SKIP "GPU, driver, device torch/CUDA/cuDNN/NCCL: dry run (no GPU)"
      return
    fi
    local g env_json
    g=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)
    check PASS "GPU: $g"
    env_json=$("$PY" "$TOOLS" env 2>&1 | tail -1)
    echo "$env_json" > "$OUT/device_env.json"
    local tv bv
    tv=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["torch"].split("+")[0])' "$env_json" 2>/dev/null)
    bv=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["libtorch"].split("+")[0])' "$DEV_DIR/versions.json" 2>/dev/null)
    if [ -z "$tv" ]; then check FAIL "device torch: $env_json"
    elif [ "$tv" = "$bv" ]; then check PASS "device torch $env_json = bundle's LibTorch $bv"
    elif [ "${tv%.*}" = "${bv%.*}" ]; then check PASS "device torch $tv vs bundle's $bv: same minor release (C++ ABI kept within a release): $env_json"
    else check FAIL "device torch $tv vs bundle's LibTorch $bv: another release, the C++ ABI differs; rebuild the bundle against torch==$tv"; fi
  }

  step2() {
    if [ "$DRY" = 1 ]; then check SKIP "SDPA backend choice: needs CUDA and the device's torch"; return; fi
    "$PY" "$TOOLS" sdpa --device cuda --json "$OUT/sdpa.json" > "$OUT/logs/sdpa.txt" 2>&1
    if [ $? -ne 0 ]; then check FAIL "sdpa probe failed: $(tail -3 "$OUT/logs/sdpa.txt" | tr '\n' ' ')"; return; fi
    while IFS= read -r line; do
      case "$line" in
        *"with padding"*) info "$line (a padded batch passes vrtrain's additive mask: flash cannot take one)" ;;
        *": dispatcher "*)
          # What ran (the profiled aten op) decides; the dispatcher's answer only where the profile named none.
          if [[ $line == *"kernels: flash"* || ( $line == *"kernels: ?"* && $line == *FLASH* ) ]]; then check PASS "$line"
          else check FAIL "$line (flash expected)"; fi ;;
      esac
    done < "$OUT/logs/sdpa.txt"
  }

  step3() {
    tiny > /dev/null
    local cpu="$WORK/s3_cpu" gpu="$WORK/s3_cuda" threads
    threads=$(( $(nproc) > 8 ? 8 : $(nproc) ))
    # Both sides at once: the CPU run uses the cores, the CUDA run the GPU.
    run s3_cpu.log vr $(train_args "$cpu") --set train.device=cpu --set train.num_threads=$threads &
    local cpu_pid=$!
    if [ "$DRY" = 0 ]; then run s3_cuda.log vr $(train_args "$gpu") --set train.device=cuda; local grc=$?; fi
    wait $cpu_pid; local crc=$?
    cp "$cpu/metrics.jsonl" "$OUT/logs/s3_cpu_metrics.jsonl" 2>/dev/null
    if [ $crc -ne 0 ]; then check FAIL "CPU run exited $crc (logs/s3_cpu.log)"; return; fi
    check PASS "CPU fp32 run, losses $("$PY" "$TOOLS" losses "$cpu" --steps 1,30,60)"
    if [ "$DRY" = 1 ]; then check SKIP "the same run on CUDA: dry run"; return; fi
    cp "$gpu/metrics.jsonl" "$OUT/logs/s3_cuda_metrics.jsonl" 2>/dev/null
    if [ $grc -ne 0 ]; then check FAIL "CUDA run exited $grc (logs/s3_cuda.log)"; return; fi
    # Step 1: the same weights and batch, CPU vs GPU kernels (fp32; cuDNN's TF32 convolution in the patch
    # embedding is LibTorch's default): 1e-3. Steps 30/60: the rounding differences compound through training;
    # 3 % is far below what a wrong gradient or optimizer step on one side gives.
    local r
    if r=$("$PY" "$TOOLS" compare-losses "$gpu" "$cpu" --steps 1,30,60 --rtol-first 1e-3 --rtol-rest 3e-2); then
      check PASS "CUDA vs CPU: $r"
    else check FAIL "CUDA vs CPU: $r"; fi
  }

  step4() {
    local d=cuda; [ "$DRY" = 1 ] && d=cpu
    local lora="--config $ROOT/configs/tiny_lora.yaml --set lora.dropout=0.1 --set train.max_steps=6 --set train.device=$d"
    [ "$DRY" = 1 ] && lora="$lora --set train.num_threads=2"
    local eager="$WORK/s4_eager" ck="$WORK/s4_ckpt" split="$WORK/s4_split" other="$WORK/s4_seed"
    run s4_eager.log vr $(train_args "$eager") $lora --set train.gradient_checkpointing=false || { check FAIL "LoRA run (checkpointing off) failed: logs/s4_eager.log"; return; }
    run s4_ckpt.log vr $(train_args "$ck") $lora --set train.gradient_checkpointing=true || { check FAIL "LoRA run (checkpointing on) failed: logs/s4_ckpt.log"; return; }
    run s4_seed.log vr $(train_args "$other") $lora --set train.gradient_checkpointing=false --set train.seed=7
    local r
    # Checkpointing recomputes the forward, dropout included: the same masks only if the RNG state is replayed.
    if r=$("$PY" "$TOOLS" weights "$ck" "$eager" --base "$(tiny)" --rtol 1e-4); then check PASS "$d LoRA dropout 0.1, checkpointing on vs off: $r"
    else check FAIL "$d LoRA dropout 0.1, checkpointing on vs off: $r"; fi
    # Sensitivity: other dropout masks (another seed) must move the weights well beyond that tolerance.
    if r=$("$PY" "$TOOLS" weights "$other" "$eager" --base "$(tiny)" --rtol 1e-3); then check FAIL "another seed gives the same weights (dropout inactive?): $r"
    else check PASS "sensitivity: another seed's masks differ: $r"; fi
    run s4_stop.log vr $(train_args "$split") $lora --set train.gradient_checkpointing=true --set train.stop_after_step=3
    local src=$?
    [ $src -eq 3 ] || { check FAIL "stop_after_step=3 exited $src, not 3: logs/s4_stop.log"; return; }
    run s4_resume.log vr $(train_args "$split") $lora --set train.gradient_checkpointing=true || { check FAIL "resume failed: logs/s4_resume.log"; return; }
    grep -q "resumed from" "$OUT/logs/s4_resume.log" || check FAIL "the second run did not resume (no 'resumed from')"
    # A resumed run continues the RNG streams (CUDA generator included) where the checkpoint left them.
    if r=$("$PY" "$TOOLS" weights "$split" "$ck" --base "$(tiny)" --rtol 1e-6); then check PASS "$d stop at 3 + resume vs straight (checkpointing on): $r"
    else check FAIL "$d stop at 3 + resume vs straight: $r"; fi
    if r=$("$PY" "$TOOLS" compare-losses "$split" "$ck" --steps 1,4,6 --rtol-first 0 --rtol-rest 1e-6); then check PASS "losses resumed vs straight: $r"
    else check FAIL "losses resumed vs straight: $r"; fi
  }

  step5() {
    local d=cuda; [ "$DRY" = 1 ] && d=cpu
    local out="$WORK/s5_bf16"
    run s5_bf16.log vr $(train_args "$out") --set train.device=$d --set train.dtype=bf16 \
      --set train.gradient_checkpointing=true --set train.max_steps=30 || { check FAIL "bf16 run failed: logs/s5_bf16.log"; return; }
    cp "$out/metrics.jsonl" "$OUT/logs/s5_bf16_metrics.jsonl"
    local r
    r=$("$PY" - "$out" << 'EOF'
import json, math, sys
l = [json.loads(x)["loss"] for x in open(sys.argv[1] + "/metrics.jsonl") if x.strip()]
last = sum(l[-3:]) / 3
ok = all(math.isfinite(x) for x in l) and len(l) == 30 and last < 0.5 * l[0]
print(("ok " if ok else "bad ") + f"{len(l)} steps, loss {l[0]:.4f} -> {last:.4f} (mean of the last 3; must be < half)")
EOF
)
    if [[ $r == ok* ]]; then check PASS "$d bf16 + checkpointing: ${r#ok }"; else check FAIL "$d bf16 + checkpointing: ${r#bad }"; fi
    if [ -f "$WORK/s3_cuda/metrics.jsonl" ] && [ "$DRY" = 0 ]; then
      info "bf16 vs fp32 (step 3's CUDA run) at step 30: $("$PY" "$TOOLS" compare-losses "$out" "$WORK/s3_cuda" --steps 1,30 --rtol-first 1 --rtol-rest 1)"
    fi
  }

  step6() {
    local d=cuda; [ "$DRY" = 1 ] && d=cpu
    # train.device=cuda is cuda:LOCAL_RANK, or cuda:0 for every rank when one device is visible (core/device.cpp).
    # 1e-4 of the training delta: on the CPU every case is bit-identical (the matrix test, tolerance 1e-6; ZeRO
    # since the clip norm is summed in fp64, 2026-12-07), but CUDA kernels may choose other algorithms for the
    # 1-process run's shapes; the bug this guards against (issue 20) gave 7.8e-3.
    local common="--set train.device=$d --set dist.backend=gloo" tol=1e-4
    for ck in false true; do
      for zero in false true; do
        local name="ckpt_${ck}_zero_${zero}" ref="$WORK/s6_ref_ckpt_$ck" out="$WORK/s6_${ck}_${zero}"
        if [ ! -f "$ref/final/model.safetensors" ]; then
          run "s6_ref_$ck.log" vr $(ddp_args "$ref" 2 2) $common --set train.gradient_checkpointing=$ck \
            || { check FAIL "$name: 1-process reference failed: logs/s6_ref_$ck.log"; continue; }
        fi
        run "s6_$name.log" vr launch --nproc-per-node 2 --master-port "$(free_port)" -- $(ddp_args "$out" 2 1) $common \
          --set train.gradient_checkpointing=$ck --set dist.shard_optimizer=$zero \
          || { check FAIL "$name: 2 ranks failed: logs/s6_$name.log"; continue; }
        grep -q "bit-identical on all 2 ranks" "$OUT/logs/s6_$name.log" \
          || check FAIL "$name: no 'bit-identical on all 2 ranks' line (logs/s6_$name.log)"
        local r
        if r=$("$PY" "$TOOLS" weights "$out" "$ref" --base "$(tiny)" --rtol $tol); then check PASS "$d 2 Gloo ranks vs 1 process x accum 2, checkpointing $ck, ZeRO $zero: $r"
        else check FAIL "$d 2 Gloo ranks vs 1 process x accum 2, checkpointing $ck, ZeRO $zero: $r"; fi
      done
    done
  }

  step7() {
    if [ "$DRY" = 1 ]; then check SKIP "NCCL world size 1: needs a GPU"; return; fi
    local ref="$WORK/s6_ref_ckpt_false" out="$WORK/s7_nccl"
    if [ ! -f "$ref/final/model.safetensors" ]; then
      run s7_ref.log vr $(ddp_args "$ref" 2 2) --set train.device=cuda || { check FAIL "reference failed: logs/s7_ref.log"; return; }
    fi
    run s7_nccl.log vr launch --nproc-per-node 1 --master-port "$(free_port)" -- $(ddp_args "$out" 2 2) \
      --set train.device=cuda --set dist.backend=nccl || { check FAIL "NCCL run failed: logs/s7_nccl.log"; return; }
    grep -qi "nccl" "$OUT/logs/s7_nccl.log" && info "log: $(grep -i -m1 nccl "$OUT/logs/s7_nccl.log" | cut -c1-200)"
    local r
    if r=$("$PY" "$TOOLS" weights "$out" "$ref" --base "$(tiny)" --rtol 1e-4); then check PASS "NCCL world size 1 vs 1 process: $r"
    else check FAIL "NCCL world size 1 vs 1 process: $r"; fi
  }

  step8() {
    local wide="$WORK/wide" B=8 T=1320 steps=5 warmup=2 d=cuda ldir="$OUT/logs"
    if [ "$DRY" = 1 ]; then
      # Plumbing only: the same commands and parsing on the tiny bunny model, on the CPU.
      B=2; T=48; steps=2; warmup=1; d=cpu
      vr make-tiny --output "$wide" --family bunny --dtype bf16 > "$ldir/s8_make.log" 2>&1
      echo 0 > "$WORK/wide.rc"
    fi
    local waited=0
    while [ ! -f "$WORK/wide.rc" ] && [ $waited -lt 200 ]; do sleep 2; waited=$((waited + 2)); done
    if [ "$(cat "$WORK/wide.rc" 2>/dev/null)" != 0 ]; then check FAIL "writing the real-width model failed or took > 200 s: logs/s8_make.log"; return; fi
    info "model: $(tail -1 "$ldir/s8_make.log")"
    # merged tokens per row: T text tokens, the one image placeholder expanded to the tower's patches
    local n_img merged
    n_img=$("$PY" -c 'import json, sys; v = json.load(open(sys.argv[1]))["vision_config"]; print((v["image_size"] // v["patch_size"]) ** 2)' "$wide/config.json")
    merged=$((T - 1 + n_img))
    local common="--model $wide --batch $B --text-tokens $T --steps $steps --warmup $warmup --bf16 --gradient-checkpointing --set train.device=$d"
    local peak_tflops=${VR_PEAK_TFLOPS:-989}
    if [ "$DRY" = 0 ] && [ -z "${VR_PEAK_TFLOPS:-}" ]; then
      case "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" in
        *H100*PCIe*) peak_tflops=756 ;;
        *A100*) peak_tflops=312 ;;
      esac
    fi
    local base_mib=0
    [ "$DRY" = 0 ] && base_mib=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2> /dev/null | head -1 | tr -dc '0-9')
    base_mib=${base_mib:-0}
    for method in full lora; do
      local m_flag="" label="selective 25%"
      [ $method = lora ] && { m_flag="--method lora"; label="LoRA r128 on 25%"; }
      vr bench --plan $common $m_flag --set train.batch_size=$B --set data.model_max_length=$merged > "$ldir/s8_plan_$method.txt" 2>&1
      local plan_peak
      plan_peak=$(awk '/^  peak/ {v = $2 " " $3} END {print v}' "$ldir/s8_plan_$method.txt")
      [ "$DRY" = 0 ] && smi_start "$WORK/smi_vr_$method.txt"
      run "s8_vr_$method.log" vr bench $common $m_flag; local rc=$?
      local smi_mib=""
      [ "$DRY" = 0 ] && smi_mib=$(smi_stop "$WORK/smi_vr_$method.txt")
      if [ $rc -ne 0 ]; then check FAIL "vrtrain bench $label exited $rc: logs/s8_vr_$method.log"; continue; fi
      # "sft uniform [2]   trainable ..." and "sft uniform [2]   step 0.4123 s (min ...) | 39741 tok/s | ..."
      local line layers step tok
      line=$(grep -E '^sft .* step [0-9.]+ s' "$ldir/s8_vr_$method.log" | tail -1)
      layers=$(echo "$line" | sed -n 's/^sft [^[]*\[\([0-9,]*\)\].*/\1/p')
      step=$(echo "$line" | sed -n 's/.* step \([0-9.]*\) s.*/\1/p')
      tok=$(echo "$line" | sed -n 's/.*| \([0-9]*\) tok\/s.*/\1/p')
      [ $method = full ] && echo "$layers" > "$WORK/wide_layers"
      local alloc
      alloc=$(grep -o -i -E 'peak allocated[ :=]*[0-9.]+ ?[GM]iB' "$ldir/s8_vr_$method.log" | tail -1)
      local mfu
      mfu=$("$PY" "$TOOLS" mfu --config "$wide" --batch $B --merged $merged --layers "$layers" --method $method \
              --seconds "$step" --peak-tflops "$peak_tflops" --line 2>&1 | tail -1)
      echo "$method $step $tok" >> "$WORK/wide_vr_times"
      local mem="plan peak $plan_peak"
      [ -n "$alloc" ] && mem="$mem, vrtrain $alloc"
      [ -n "$smi_mib" ] && mem="$mem, nvidia-smi max $((smi_mib - base_mib)) MiB above idle (context + allocator slack included)"
      check PASS "vrtrain $label layers [$layers], $B x $merged tokens, bf16, ckpt, $d: step ${step} s, $tok tok/s, $mfu (peak $peak_tflops TFLOP/s), $mem"
      if [ "$DRY" = 0 ]; then
        # The plan (train/memory_plan.h) against the measured peak: the allocator's figure when vrtrain reports it,
        # else nvidia-smi's minus the idle baseline (which adds the ~0.5 GiB CUDA context and the allocator's slack).
        "$PY" - "$plan_peak" "${alloc:-}" "${smi_mib:-0}" "$base_mib" << 'EOF' | while read -r st text; do check "$st" "$text"; done
import re, sys
def gib(s):
    m = re.search(r"([0-9.]+)\s*([GM])iB", s or "")
    return None if not m else float(m.group(1)) / (1 if m.group(2) == "G" else 1024)
plan, alloc = gib(sys.argv[1]), gib(sys.argv[2])
smi = (int(sys.argv[3]) - int(sys.argv[4])) / 1024
if plan is None:
    print("FAIL no plan peak parsed"); sys.exit()
if alloc is not None:
    ok = 0.85 * plan <= alloc <= 1.15 * plan
    print(("PASS" if ok else "FAIL") + f" memory: allocator peak {alloc:.1f} GiB vs plan {plan:.1f} GiB (ratio {alloc/plan:.2f}, tol 0.85-1.15)")
else:
    ok = 0.85 * plan <= smi <= 1.25 * plan + 1.0
    print(("PASS" if ok else "FAIL") + f" memory: nvidia-smi {smi:.1f} GiB vs plan {plan:.1f} GiB (ratio {smi/plan:.2f}, tol 0.85 to 1.25 + 1 GiB for context and slack)")
EOF
      fi
    done
    local layers
    layers=$(cat "$WORK/wide_layers" 2>/dev/null)
    [ -n "$layers" ] || { check FAIL "no trained layers parsed from vrtrain bench (logs/s8_vr_full.log)"; return; }
    local hf_dtype=bf16 hf_dev=cuda
    [ "$DRY" = 1 ] && hf_dev=cpu
    [ "$DRY" = 0 ] && smi_start "$WORK/smi_hf.txt"
    run s8_hf.log "$PY" "$ROOT/bench/gpu/hf_train_step.py" --model "$wide" --batch $B --text-tokens $T --layers "$layers" \
      --methods full,lora --steps $steps --warmup $warmup --device $hf_dev --dtype $hf_dtype --checkpointing
    local rc=$?
    [ "$DRY" = 0 ] && info "transformers: nvidia-smi max $(( $(smi_stop "$WORK/smi_hf.txt") - base_mib )) MiB above idle (both methods)"
    if [ $rc -ne 0 ]; then check FAIL "transformers side failed: $(tail -2 "$ldir/s8_hf.log" | tr '\n' ' ' | cut -c1-300)"; return; fi
    grep '^{' "$ldir/s8_hf.log" > "$OUT/s8_hf.jsonl"
    "$PY" - "$OUT/s8_hf.jsonl" "$WORK/wide_vr_times" "$wide" "$B" "$merged" "$layers" "$peak_tflops" "$TOOLS" << 'EOF' | while read -r st text; do check "$st" "$text"; done
import json, subprocess, sys
hf_file, vr_file, wide, B, M, layers, peak, tools = sys.argv[1:9]
vr = {l.split()[0]: (float(l.split()[1]), l.split()[2]) for l in open(vr_file) if l.strip()}
for line in open(hf_file):
    r = json.loads(line)
    m = r["method"]
    mfu = json.loads(subprocess.run([sys.executable, tools, "mfu", "--config", wide, "--batch", B, "--merged", M,
                                     "--layers", layers, "--method", m, "--seconds", str(r["step_s"]),
                                     "--peak-tflops", peak], capture_output=True, text=True).stdout)
    mem = f", peak allocated {r['peak_allocated_gib']:.1f} GiB, reserved {r['peak_reserved_gib']:.1f} GiB" \
        if "peak_allocated_gib" in r else ""
    ratio = f", vrtrain/HF step time {vr[m][0] / r['step_s']:.2f}" if m in vr else ""
    label = "selective 25%" if m == "full" else "LoRA r128 on 25%"
    st = "PASS" if r["finite"] else "FAIL"
    print(f"{st} transformers {r['transformers']} {label} ({r['attention']}, {r['dtype']}, ckpt, {r['merged_tokens']} "
          f"tokens): step {r['step_s']:.4f} s, {r['tokens_per_s']:.0f} tok/s, MFU {100 * mfu['mfu']:.1f}%{mem}{ratio}")
EOF
    if [ "$DRY" = 1 ]; then check SKIP "the real-width measurement (Bunny-8B-wide, 8 x 2048, CUDA): dry run; the lines above are the plumbing at tiny width on the CPU"; fi
  }

  step9() {
    local d=cuda; [ "$DRY" = 1 ] && d=cpu
    # data.packing on this device: one optimizer step over the same N samples both ways, so both compute the
    # gradient of the same tokens: unpacked, one micro-batch of N padded rows; packed, one micro-batch of the R rows
    # (of 400 merged slots) those N samples pack into. With token normalisation the loss and the gradient must agree
    # (docs/packing.md): per-segment attention (SDPA per sample on CUDA) against the padded batch's masked attention.
    local n=12 len=400 probe="$WORK/s9_probe" packed="$WORK/s9_packed" unpacked="$WORK/s9_unpacked"
    local one="--set train.device=$d --set train.max_steps=1 --set train.log_every=1 --set train.num_threads=2"
    one="$one --set data.synthetic.num_samples=$n --set train.loss_normalization=token --set train.warmup_ratio=0"
    local pack="--set data.packing=true --set data.pack_length=$len"
    run s9_probe.log vr $(train_args "$probe") $one $pack --set train.batch_size=1 \
      || { check FAIL "packed probe run failed: logs/s9_probe.log"; return; }
    local plan rows
    plan=$(grep -o 'packs [0-9]* samples into [0-9]* rows.*' "$OUT/logs/s9_probe.log" | head -1)
    rows=$(echo "$plan" | sed -n 's/packs [0-9]* samples into \([0-9]*\) rows.*/\1/p')
    [ -n "$rows" ] || { check FAIL "no 'packs N samples into R rows' line in logs/s9_probe.log"; return; }
    info "plan: $plan"
    run s9_unpacked.log vr $(train_args "$unpacked") $one --set train.batch_size=$n \
      || { check FAIL "unpacked run failed: logs/s9_unpacked.log"; return; }
    run s9_packed.log vr $(train_args "$packed") $one $pack --set train.batch_size="$rows" \
      || { check FAIL "packed run failed: logs/s9_packed.log"; return; }
    # fp32. CPU: the same kernels summed in another order, 1e-5. CUDA: cuDNN's TF32 patch-embedding convolution
    # (LibTorch's default) sees the images in another order; 1e-4 stays far below a sample attending across its
    # row (a wrong mask moves the loss by percents).
    local tol=1e-5; [ "$d" = cuda ] && tol=1e-4
    local r
    r=$("$PY" - "$packed" "$unpacked" "$tol" << 'EOF'
import json, sys
def first(run):
    return json.loads(open(run + "/metrics.jsonl").readline())
p, u, tol = first(sys.argv[1]), first(sys.argv[2]), float(sys.argv[3])
rel = {k: abs(p[k] - u[k]) / max(abs(u[k]), 1e-12) for k in ("loss", "grad_norm")}
ok = all(v <= tol for v in rel.values()) and p.get("samples") == u.get("samples")
print(("ok " if ok else "bad ") + f"{p.get('samples')} samples in {p.get('rows')} packed rows vs {u.get('rows')} padded: "
      f"loss {p['loss']:.6f} vs {u['loss']:.6f} (rel {rel['loss']:.1e}), grad norm {p['grad_norm']:.6f} vs "
      f"{u['grad_norm']:.6f} (rel {rel['grad_norm']:.1e}), tol {tol:g}; padding share {p.get('padding_share', 0):.1%} "
      f"packed vs {u.get('padding_share', 0):.1%} padded")
EOF
)
    if [[ $r == ok* ]]; then check PASS "$d packed = unpacked, one step: ${r#ok }"; else check FAIL "$d packed vs unpacked: ${r#bad }"; fi
  }

  step10() {
    # Packing's throughput on this device: the same text-only conversations (a wide length mix, as LLaVA-665K's
    # ShareGPT part: no images, so nothing to draw) trained for a few steps packed and unpacked (grouped by
    # modality length, as LLaVA), real width in bf16 with checkpointing on the device. The figure is useful
    # (non-padding) tokens per second over the steps after the first, and the padding share of each.
    local d=cuda model="$WORK/wide" tpl=llama3 len=2048 B=4 steps=6 extra="--set train.dtype=bf16 --set train.gradient_checkpointing=true"
    if [ "$DRY" = 1 ]; then
      d=cpu; model=$(tiny); tpl=vicuna_v1; len=256; B=2; steps=4; extra="--set train.num_threads=2"
    else
      local waited=0
      while [ ! -f "$WORK/wide.rc" ] && [ $waited -lt 120 ]; do sleep 2; waited=$((waited + 2)); done
      [ "$(cat "$WORK/wide.rc" 2>/dev/null)" = 0 ] || { check FAIL "the real-width model is missing (logs/s8_make.log)"; return; }
    fi
    local data="$WORK/s10_data.jsonl"
    # Lengths log-uniform between 16 words and ~0.9 of the row (seed 0): mostly short turns, a tail of long ones.
    "$PY" - "$data" "$len" << 'EOF'
import json, math, random, sys
path, row = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
words = "the a red blue cat dog sees runs over under small large image text answer question".split()
with open(path, "w") as f:
    for i in range(400):
        n = int(math.exp(rng.uniform(math.log(16), math.log(0.9 * row * 0.6))))  # ~0.6 words per token margin
        q, a = max(4, n // 4), max(4, n - n // 4)
        f.write(json.dumps({"id": f"t{i}", "conversations": [
            {"from": "human", "value": " ".join(rng.choice(words) for _ in range(q))},
            {"from": "gpt", "value": " ".join(rng.choice(words) for _ in range(a))}]}) + "\n")
EOF
    local common="--config $ROOT/configs/tiny_synthetic.yaml --set model.path=$model --set data.path=$data"
    common="$common --set data.template=$tpl --set data.model_max_length=$len --set train.device=$d --set train.max_steps=$steps"
    common="$common --set train.save_every=0 --set train.log_every=1 --set data.num_workers=1 --set train.loss_normalization=token $extra"
    run s10_unpacked.log vr $common --set output_dir="$WORK/s10_unpacked" --set train.batch_size=$B \
      --set data.group_by_modality_length=true || { check FAIL "unpacked run failed: logs/s10_unpacked.log"; return; }
    run s10_packed.log vr $common --set output_dir="$WORK/s10_packed" --set train.batch_size=$B \
      --set data.packing=true --set data.pack_length=$len || { check FAIL "packed run failed: logs/s10_packed.log"; return; }
    info "plan: $(grep -o 'packs [0-9]* samples into [0-9]* rows.*' "$OUT/logs/s10_packed.log" | head -1)"
    local r
    r=$("$PY" - "$WORK/s10_packed" "$WORK/s10_unpacked" "$B" "$len" << 'EOF'
import json, math, sys
def figures(run):
    m = [json.loads(l) for l in open(run + "/metrics.jsonl") if l.strip()][1:]  # the first step warms up
    t = sum(x["step_time_s"] for x in m)
    return sum(x["tokens"] for x in m) / t, sum(x["padding_share"] for x in m) / len(m), sum(x["samples"] for x in m) / len(m)
p, u = figures(sys.argv[1]), figures(sys.argv[2])
ok = all(math.isfinite(v) and v >= 0 for v in p + u)
print(("ok " if ok else "bad ") + f"useful tokens/s packed {p[0]:.0f} vs unpacked {u[0]:.0f} = {p[0] / u[0]:.2f}x; padding "
      f"{100 * p[1]:.1f}% vs {100 * u[1]:.1f}%; samples per step {p[2]:.1f} vs {u[2]:.1f} ({sys.argv[3]} rows of "
      f"{sys.argv[4]})")
EOF
)
    if [[ $r == ok* ]]; then check PASS "$d packing throughput, text-only length mix: ${r#ok }"; else check FAIL "$d packing throughput: ${r#bad }"; fi
  }

  "step$VR_ACCEPT_CHILD"
  exit 0
fi

# ---- the parent: setup, then each step under its own timeout --------------------------------------------------
DRY=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --only) ONLY=",$2,"; shift ;;
    -h|--help) sed -n '2,32p' "$SELF"; exit 0 ;;
    *) echo "usage: $0 [--dry-run] [--only 1,3,...]" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-/tmp/vr-acceptance-out}
WORK=${VR_ACCEPT_WORK:-/tmp/vr-acceptance}
BUDGET=${VR_ACCEPT_BUDGET_S:-470}
SCALE=${VR_ACCEPT_TIME_SCALE:-1}  # multiplies every step's time limit
DEV_DIR=${VR_DEVICE_DIR:-$ROOT/device}
VRTRAIN=${VRTRAIN:-$DEV_DIR/bin/vrtrain}
PY=${VR_PYTHON:-python3}
T0=$(date +%s)
mkdir -p "$OUT/logs"
rm -rf "$WORK"; mkdir -p "$WORK"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

if [ "$DRY" = 0 ] && ! nvidia-smi -L > /dev/null 2>&1 \
   && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' > /dev/null 2>&1; then
  DRY=1
  say "no GPU visible (nvidia-smi -L and torch.cuda.is_available() both fail): DRY RUN"
fi
# The budget is the GPU session's; a dry run on a small shared CPU takes longer and has no session to protect.
# Measured here (2 shared cores): step 5's 30 bf16 CPU steps took 59 s once and over 240 s under load, hence 8.
if [ "$DRY" = 1 ]; then BUDGET=${VR_ACCEPT_BUDGET_S:-2400}; SCALE=${VR_ACCEPT_TIME_SCALE:-8}; fi
[ -x "$VRTRAIN" ] || { say "FAIL: $VRTRAIN missing: run scripts/device_bundle.sh here and carry device/"; exit 1; }
# The torch and CUDA libraries vrtrain runs on: the device's own (python3's torch and the nvidia-* wheels beside it).
# A dry run stands in the LibTorch the bundle was built against (python3 here may hold another torch).
if [ -n "${VR_TORCH_LIB_DIRS:-}" ]; then
  TORCH_DIRS=$VR_TORCH_LIB_DIRS; TORCH_SRC="VR_TORCH_LIB_DIRS"
elif [ "$DRY" = 1 ]; then
  prefix=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["libtorch_prefix"])' "$DEV_DIR/versions.json")
  TORCH_DIRS="$prefix/lib"
  [ -d "$prefix/../extra-lib" ] && TORCH_DIRS="$TORCH_DIRS:$(cd "$prefix/../extra-lib" && pwd)"
  [ -d /usr/local/cuda/lib64 ] && TORCH_DIRS="$TORCH_DIRS:/usr/local/cuda/lib64"
  TORCH_SRC="the build's LibTorch $prefix (dry run stand-in)"
else
  TORCH_DIRS=$("$PY" "$TOOLS" torch-lib-dirs) || { say "FAIL: $PY cannot find torch (set VR_TORCH_LIB_DIRS)"; exit 1; }
  TORCH_SRC="$PY's torch"
fi
# Only vrtrain gets these paths (bundled Debian libraries must not replace the ones python3 links).
VR_LD="$TORCH_DIRS:$DEV_DIR/lib"
export OUT WORK DRY DEV_DIR VRTRAIN PY VR_LD TORCH_SRC ROOT TOOLS

say "vrtrain CUDA acceptance, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname), mode: $([ "$DRY" = 1 ] && echo 'DRY RUN (CPU; device-only parts SKIPPED)' || echo device), budget ${BUDGET} s"
say "torch libraries: $TORCH_SRC"
cp "$DEV_DIR/versions.json" "$OUT/bundle_versions.json" 2> /dev/null || true

# The real-width model is written in the background from the start (CPU work, ~1 min), while the GPU runs 1-7.
BG_PID=""
if [ "$DRY" = 0 ] && { [ -z "$ONLY" ] || [[ $ONLY == *,8,* ]] || [[ $ONLY == *,10,* ]]; }; then
  ( LD_LIBRARY_PATH="$VR_LD" "$VRTRAIN" make-tiny --output "$WORK/wide" --shapes bunny-llama-3-8b-v --layers 4 \
      --dtype bf16 > "$OUT/logs/s8_make.log" 2>&1; echo $? > "$WORK/wide.rc" ) &
  BG_PID=$!
fi
trap '[ -n "$BG_PID" ] && kill "$BG_PID" 2> /dev/null; true' EXIT

FAILS=0
run_step() {  # ID LIMIT_S TITLE
  local id=$1 limit=$2 title=$3
  if [ -n "$ONLY" ] && [[ $ONLY != *",$id,"* ]]; then return; fi
  local left=$((BUDGET - ($(date +%s) - T0)))
  # Steps 3-7, 9 and 10 leave RESERVE_8 seconds to step 8 (the figures that cannot be had any other way) when it is to run.
  if [ "$id" -ge 3 ] && [ "$id" -ne 8 ] && { [ -z "$ONLY" ] || [[ $ONLY == *,8,* ]]; }; then
    left=$((left - ${VR_ACCEPT_RESERVE_8:-180}))
  fi
  if [ $left -lt 10 ]; then say "[$id] $title: SKIP (the ${BUDGET} s budget is spent)"; return; fi
  limit=$((limit * SCALE))
  [ "$limit" -gt "$left" ] && limit=$left
  local log="$OUT/logs/step$id.log" t=$(date +%s) rc=0
  VR_ACCEPT_CHILD=$id timeout -k 5 "$limit" bash "$SELF" > "$log" 2>&1 || rc=$?
  local dt=$(( $(date +%s) - t )) status
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "CHECK FAIL timed out after $limit s" >> "$log"
  elif [ $rc -ne 0 ]; then
    echo "CHECK FAIL the step's script exited $rc" >> "$log"
  fi
  if grep -q '^CHECK FAIL' "$log"; then status=FAIL; FAILS=$((FAILS + 1))
  elif grep -q '^CHECK PASS' "$log" && grep -q '^CHECK SKIP' "$log"; then status="PASS (part SKIPPED)"
  elif grep -q '^CHECK PASS' "$log"; then status=PASS
  elif grep -q '^CHECK SKIP' "$log"; then status=SKIPPED
  else status=FAIL; FAILS=$((FAILS + 1)); echo "CHECK FAIL no result" >> "$log"
  fi
  say "[$id] $title: $status ($dt s)"
  grep -E '^(CHECK|INFO) ' "$log" | sed -e 's/^CHECK /      /' -e 's/^INFO /      info: /' | tee -a "$SUMMARY"
}

run_step 1 40 "environment"
run_step 2 60 "SDPA backend for vrtrain's shapes"
run_step 3 90 "tiny fp32 run, CUDA vs CPU"
run_step 4 90 "LoRA dropout: checkpointing on = off, stop/resume"
run_step 5 60 "bf16 with checkpointing"
run_step 6 150 "2 Gloo ranks on one GPU vs 1 process (checkpointing x ZeRO)"
run_step 7 40 "NCCL, world size 1"
# 9 and 10 before 8: they are short, and 8 takes whatever the budget has left.
run_step 9 40 "sequence packing: packed = unpacked (one step, token normalisation)"
run_step 10 60 "sequence packing: useful tokens/s packed vs unpacked (text-only length mix, real width)"
run_step 8 300 "real width (Bunny-8B layers), vrtrain vs transformers"
say "total $(( $(date +%s) - T0 )) s, $FAILS step(s) failed; logs in $OUT/logs"
[ $FAILS -eq 0 ]
