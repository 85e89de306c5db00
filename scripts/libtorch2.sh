#!/usr/bin/env bash
# Fetches the LibTorch inside the PyPI `torch` wheel (2.x, built with CUDA 13) without installing PyTorch,
# plus the three CUDA libraries it links that a CUDA 13 toolkit install lacks, and NCCL from the
# nvidia-nccl-cu13 wheel of exactly the version the torch wheel pins (its METADATA): nccl.h for c10d's
# ProcessGroupNCCL.hpp (another NCCL's header changes ncclConfig_t, which torch's library fills: heap corruption)
# and libnccl.so.2. Prints the prefix; pass VR_LIBTORCH_DIR=<prefix>/torch to CMake (README, "On GPUs"). Used by
# .ci/run to build and test vrtrain against LibTorch 2.x.
#   scripts/libtorch2.sh            # → prints e.g. /root/.cache/vrtrain/libtorch-2.11.0
# Needs: pip (PyPI), unzip, and a CUDA 13 toolkit in /usr/local/cuda (cudart, cuBLAS, cuDNN, NCCL ...).
set -euo pipefail
VERSION=${TORCH_VERSION:-2.11.0}
ROOT=${VR_LIBTORCH2_CACHE:-$HOME/.cache/vrtrain}/libtorch-$VERSION
if [ -f "$ROOT/.complete" ] && [ -f "$ROOT/nccl/version.txt" ]; then echo "$ROOT"; exit 0; fi
command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
WHEELS=$(mktemp -d); trap 'rm -rf "$WHEELS"' EXIT
py=python3; command -v $py >/dev/null || py=python
# The torch wheel pins these versions for 2.11 (its METADATA: nvidia-cusparselt-cu13, nvidia-nvshmem-cu13, cufile).
$py -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "torch==$VERSION" \
  nvidia-cusparselt-cu13==0.8.0 nvidia-nvshmem-cu13==3.4.5 nvidia-cufile==1.15.1.6 >&2
rm -rf "$ROOT"; mkdir -p "$ROOT/extra-lib"
unzip -q "$WHEELS"/torch-*.whl 'torch/include/*' 'torch/lib/*' 'torch/share/cmake/*' 'torch-*.dist-info/METADATA' \
  -d "$ROOT"
# The NCCL torch was built with: "Requires-Dist: nvidia-nccl-cu13==2.28.9; platform_system == ..." (CMake checks
# the header against it: cmake/VrNccl.cmake).
nccl=$(sed -n 's/^Requires-Dist: nvidia-nccl-cu[0-9]*==\([0-9.]*\).*/\1/p' "$ROOT"/torch-*.dist-info/METADATA | head -n 1)
[ -n "$nccl" ] || { echo "libtorch2.sh: the torch wheel's METADATA names no nvidia-nccl version" >&2; exit 1; }
$py -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "nvidia-nccl-cu13==$nccl" >&2
for w in "$WHEELS"/nvidia_*.whl; do
  unzip -q -o -j "$w" 'nvidia/*/lib/*.so*' -d "$ROOT/extra-lib"
done
mkdir -p "$ROOT/nccl"
unzip -q -o "$WHEELS"/nvidia_nccl_cu13-*.whl 'nvidia/nccl/include/*' -d "$ROOT/nccl-wheel"
mv "$ROOT/nccl-wheel/nvidia/nccl/include" "$ROOT/nccl/include" && rm -rf "$ROOT/nccl-wheel"
echo "$nccl" > "$ROOT/nccl/version.txt"
touch "$ROOT/.complete"
echo "$ROOT"
