#!/usr/bin/env bash
# Sets up (deps + build) and runs the whole test suite with ctest. Exit code: ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."
VR_TARGETS=all scripts/setup.sh   # vrtrain, the test suite and the benchmarks
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
