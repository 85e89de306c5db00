#!/usr/bin/env bash
# Installs every system dependency of vrtrain (Debian 12) and configures + builds it in build/.
# Idempotent: packages already present are not reinstalled; a second run only rebuilds what changed.
#   scripts/setup.sh                 # deps + build vrtrain (Release, unity build: what the first run needs)
#   VR_TARGETS=all scripts/setup.sh  # ... and the tests and benchmarks (scripts/test.sh does this)
#   VR_SKIP_BUILD=1 scripts/setup.sh # deps only
#   BUILD_TYPE=RelWithDebInfo VR_UNITY=OFF scripts/setup.sh   # developers: gdb, one translation unit per file
#   BUILD_DIR=build-x CMAKE_ARGS="-DCMAKE_PREFIX_PATH=..." scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential g++ cmake ninja-build ccache pkg-config git python3
  libtorch-dev libgloo-dev libopenblas0-openmp           # LibTorch 1.13 (CPU); OpenBLAS: ~20x faster GEMMs than ref BLAS
  libyaml-cpp-dev libfmt-dev nlohmann-json3-dev unzip python3-pip
  libstb-dev libturbojpeg0-dev libpcre2-dev               # images (stb, libjpeg-turbo like PIL), tokenizer regex (PCRE2)
  libcairo2-dev                                          # PNG plots of vrtrain compare
  libgtest-dev libgmock-dev libcli11-dev                 # tests; CLI11 (header-only argument parser of vrtrain)
)

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# BLAS: Debian's OpenMP build of OpenBLAS runs inside LibTorch's OpenMP thread pool; the pthreads build (Debian's
# default when both are installed) keeps a second pool whose workers spin against LibTorch's: with 2 threads a
# training step ran 1.3-2x slower (docs/benchmarks.md, "Threads"). Select the OpenMP build for libopenblas.so.0
# and libblas.so.3 (system-wide alternatives, like any BLAS switch on Debian); VR_BLAS=keep leaves them alone.
if [ "${VR_BLAS:-openmp}" = openmp ]; then
  arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  for lib in libopenblas.so.0 libblas.so.3; do
    target=/usr/lib/$arch/openblas-openmp/$lib
    [ -e "$target" ] && $SUDO update-alternatives --set "$lib-$arch" "$target" >/dev/null
  done
  echo "setup: BLAS = OpenBLAS, OpenMP build (VR_BLAS=keep to leave the system's choice)"
fi

[ "${VR_SKIP_BUILD:-0}" = 1 ] && exit 0
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
# Release and a unity build by default: on a fresh 2-core machine the first run waits for the compiler, and
# LibTorch's headers cost most of every translation unit (batched 8 sources per unit: ~3x less compile time;
# Release skips debug info: ~40 % less; docs/development.md). Only vrtrain unless asked: the tests and
# benchmarks are ~120 more sources.
TARGETS=${VR_TARGETS:-vrtrain}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
      -DCMAKE_UNITY_BUILD="${VR_UNITY:-ON}" ${CMAKE_ARGS:-}
if [ "$TARGETS" = all ]; then cmake --build "$BUILD_DIR" -j "$JOBS"
else cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS; fi
echo "setup: built $TARGETS in $BUILD_DIR"
