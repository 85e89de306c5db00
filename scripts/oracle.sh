#!/usr/bin/env bash
# Installs the Python reference stack the conformance tests and benchmarks compare against (never a runtime
# dependency): Debian's python3-torch 1.13 (same kernels as Debian's LibTorch) and PyPI transformers 4.44.2 (the
# version the fixtures were made with) into /opt/vr-oracle (or $VR_ORACLE_PYTHONPATH), and PyPI peft 0.12.0 (with
# accelerate 0.33.0 and psutil; they import with Debian's torch 1.13) for the test that loads vrtrain's LoRA adapter
# with PeftModel.from_pretrained (tests/e2e/hf_export_test.cpp; that case alone skips without peft), and PyPI
# tensorboard 2.21.0 for the test that reads a run's event files with TensorBoard's own reader
# (tests/e2e/tensorboard_test.cpp; it skips without it). Idempotent.
# Tests find it through tests/support/python_oracle.h; by hand: PYTHONPATH=/opt/vr-oracle /usr/bin/python3 ...
set -euo pipefail
target=${VR_ORACLE_PYTHONPATH:-/opt/vr-oracle}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed"; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch python3-pip >/dev/null
fi
if ! PYTHONPATH=$target /usr/bin/python3 -c 'import transformers, safetensors' 2>/dev/null; then
  $SUDO /usr/bin/python3 -m pip install -q --break-system-packages --target "$target" --no-deps \
    transformers==4.44.2 tokenizers==0.19.1 safetensors==0.4.5 huggingface_hub==0.24.6 regex tqdm pyyaml \
    packaging filelock fsspec requests urllib3 idna certifi charset-normalizer
fi
if ! PYTHONPATH=$target /usr/bin/python3 -c 'import peft' 2>/dev/null; then
  $SUDO /usr/bin/python3 -m pip install -q --break-system-packages --target "$target" --no-deps \
    peft==0.12.0 accelerate==0.33.0 psutil || echo "oracle.sh: peft not installed: the PEFT adapter case will skip" >&2
fi
# TensorBoard's event reader (EventAccumulator) needs protobuf and absl-py besides Debian's numpy; grpcio,
# werkzeug, markdown and the data server are for the web UI only (checked: the reader imports and runs without
# them under Debian 12's Python 3.11).
if ! PYTHONPATH=$target /usr/bin/python3 -c 'from tensorboard.backend.event_processing import event_accumulator' \
     2>/dev/null; then
  $SUDO /usr/bin/python3 -m pip install -q --break-system-packages --target "$target" --no-deps \
    tensorboard==2.21.0 protobuf==7.36.2 absl-py==2.5.1 ||
    echo "oracle.sh: tensorboard not installed: the TensorBoard event-file test will skip" >&2
fi
echo "$target"
