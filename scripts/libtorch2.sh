#!/usr/bin/env bash
# Fetches the LibTorch inside the PyPI `torch` wheel (2.x, built with CUDA 13) without installing PyTorch,
# plus the three CUDA libraries it links that a CUDA 13 toolkit install lacks, and prints the prefix to pass
# as CMAKE_PREFIX_PATH. Used by .ci/run to check that vrtrain builds and passes its fast tests on LibTorch 2.x.
#   scripts/libtorch2.sh            # → prints e.g. /root/.cache/vrtrain/libtorch-2.11.0
# Needs: pip (PyPI), unzip, and a CUDA 13 toolkit in /usr/local/cuda (cudart, cuBLAS, cuDNN, NCCL ...).
set -euo pipefail
VERSION=${TORCH_VERSION:-2.11.0}
ROOT=${VR_LIBTORCH2_CACHE:-$HOME/.cache/vrtrain}/libtorch-$VERSION
if [ -f "$ROOT/.complete" ]; then echo "$ROOT"; exit 0; fi
command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
WHEELS=$(mktemp -d); trap 'rm -rf "$WHEELS"' EXIT
py=python3; command -v $py >/dev/null || py=python
# The torch wheel pins these versions for 2.11 (its METADATA: nvidia-cusparselt-cu13, nvidia-nvshmem-cu13, cufile).
$py -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "torch==$VERSION" \
  nvidia-cusparselt-cu13==0.8.0 nvidia-nvshmem-cu13==3.4.5 nvidia-cufile==1.15.1.6 >&2
rm -rf "$ROOT"; mkdir -p "$ROOT/extra-lib"
unzip -q "$WHEELS"/torch-*.whl 'torch/include/*' 'torch/lib/*' 'torch/share/cmake/*' -d "$ROOT"
for w in "$WHEELS"/nvidia_*.whl; do
  unzip -q -o -j "$w" 'nvidia/*/lib/*.so*' -d "$ROOT/extra-lib"
done
touch "$ROOT/.complete"
echo "$ROOT"
