#!/usr/bin/env bash
# Builds what one short GPU session needs to run bench/gpu/acceptance.sh, into an ignored folder (device/, <= 50 MiB)
# that travels with the working tree:
#   device/bin/vrtrain        stripped Release vrtrain linked against the LibTorch 2.11 wheel (CUDA 13, NCCL)
#   device/lib/*.so*          the non-torch shared libraries it needs (yaml-cpp 0.7, turbojpeg, pcre2, cairo and its
#                             closure ...): an Ubuntu 24.04 GPU image lacks them
#   device/versions.json      the build: commit, torch/CUDA/cuDNN/NCCL, compiler, glibc/libstdc++ it requires
#   device/ldd.txt            ldd of the bundled binary as --check saw it
# Torch and CUDA are NOT bundled (1+ GB): on the GPU machine vrtrain loads that machine's own PyTorch libraries
# (torch/lib and the nvidia/* wheels' lib dirs, put on LD_LIBRARY_PATH by the acceptance script), which must be the
# same torch version (2.11): its C++ ABI is only stable within a release.
#
#   scripts/device_bundle.sh            # build (reusing build-torch2 if it exists) and bundle, then --check
#   scripts/device_bundle.sh --check    # verify an existing bundle: size and ldd closure (nothing missing, every
#                                       # non-torch library resolved from device/lib)
# Env: BUILD_DIR (default build-torch2), VR_DEVICE_DIR (default device), VR_BUNDLE_MAX_MIB (default 50),
#      JOBS (default nproc), NICE (default 10).
# Needs: cmake, a C++17 compiler, the CUDA 13 toolkit (nvcc: Caffe2's cmake enables CUDA), patchelf, pip (for
# scripts/libtorch2.sh, cached in ~/.cache/vrtrain).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build-torch2}
DEV=${VR_DEVICE_DIR:-device}
MAX_MIB=${VR_BUNDLE_MAX_MIB:-50}
MODE=build
case "${1:-}" in
  --check) MODE=check ;;
  "") ;;
  -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# Sonames every Linux with a C++ runtime has (glibc, libstdc++, libgcc): never bundled. The device's own are newer
# (Ubuntu 24.04: glibc 2.39, GCC 14) than this build's (Debian 12: glibc 2.36, GCC 12), which is what counts.
BASIC='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|librt\.so\.1|libpthread\.so\.0|libresolv\.so\.2|libutil\.so\.1|libanl\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$'
# Torch, CUDA and the driver: the device's PyTorch install (or its driver) provides these, never the bundle.
TORCH_CUDA='^(libtorch|libc10|libshm|libgomp|libcaffe2|libkineto|libcuda\.|libcudart|libcublas|libcudnn|libnccl|libnvrtc|libnvToolsExt|libnvtx|libcupti|libcufft|libcurand|libcusparse|libcusolver|libnvJitLink|libnvshmem|libcufile|libcusparseLt|libnvperf|libcheckpoint)'

# ldd of $1 in the runtime environment; prints "soname<TAB>path" ("not found" as path when missing).
ldd_pairs() {
  ldd "$1" 2>&1 | awk '
    /=>/ { p = $3; if ($3 == "not") p = "not found"; print $1 "\t" p; next }
    /^[ \t]*\// { n = split($1, a, "/"); print a[n] "\t" $1 }'
}

torch_dirs_from_build() {  # the LibTorch this build linked, and the CUDA libraries the wheel expects beside it
  local cache=$BUILD_DIR/CMakeCache.txt t
  t=$(sed -n 's/^VR_LIBTORCH_DIR:PATH=//p' "$cache" 2>/dev/null || true)
  [ -n "$t" ] || { echo "device_bundle: $cache has no VR_LIBTORCH_DIR (not a LibTorch 2.x build)" >&2; return 1; }
  local dirs="$t/lib"
  [ -d "$t/../extra-lib" ] && dirs="$dirs:$(cd "$t/../extra-lib" && pwd)"
  for c in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$c" ] && dirs="$dirs:$c"; done
  echo "$dirs"
}

check_bundle() {
  local fail=0 bin=$DEV/bin/vrtrain
  [ -x "$bin" ] || { echo "FAIL: $bin missing (run scripts/device_bundle.sh)"; return 1; }
  local bytes mib
  bytes=$(du -sb "$DEV" | cut -f1)
  mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
  if [ "$bytes" -le $((MAX_MIB * 1048576)) ]; then echo "PASS size: $DEV is $mib MiB (limit $MAX_MIB MiB)"
  else echo "FAIL size: $DEV is $mib MiB (limit $MAX_MIB MiB)"; fail=1; fi
  # The runtime environment: the torch/CUDA libraries of this build stand in for the device's own; the bundled
  # libraries come first through the binary's RPATH ($ORIGIN/../lib) and LD_LIBRARY_PATH.
  local torch_dirs
  torch_dirs=${VR_TORCH_LIB_DIRS:-$(torch_dirs_from_build)}
  local libdir
  libdir=$(cd "$DEV/lib" && pwd)
  : > "$DEV/ldd.txt"
  local bundled=0 from_torch=0 basic=0
  for obj in "$bin" "$DEV"/lib/*.so*; do
    echo "== $obj" >> "$DEV/ldd.txt"
    LD_LIBRARY_PATH="$libdir:$torch_dirs" ldd "$obj" >> "$DEV/ldd.txt" 2>&1 || true
    while IFS=$'\t' read -r name path; do
      if [[ $name =~ $BASIC ]]; then basic=$((basic + 1)); continue; fi
      if [[ $name =~ $TORCH_CUDA ]]; then
        # Provided by the device's torch install; here it may be absent only if it is the driver (libcuda).
        if [ "$path" = "not found" ] && [[ $name != libcuda.* ]]; then
          echo "FAIL ldd: $obj needs $name (torch/CUDA) and the stand-in torch dirs lack it"; fail=1
        fi
        from_torch=$((from_torch + 1)); continue
      fi
      if [ "$path" = "not found" ]; then echo "FAIL ldd: $obj needs $name: not found"; fail=1; continue; fi
      case "$(readlink -f "$path")" in
        "$libdir"/*) bundled=$((bundled + 1)) ;;
        *) echo "FAIL ldd: $obj needs $name, resolved outside the bundle ($path): the device may lack it"; fail=1 ;;
      esac
    done < <(LD_LIBRARY_PATH="$libdir:$torch_dirs" ldd_pairs "$obj")
  done
  if grep -q "version .* not found" "$DEV/ldd.txt"; then
    echo "FAIL ldd: symbol versions missing:"; grep "version .* not found" "$DEV/ldd.txt" | sort -u; fail=1
  fi
  [ $fail -eq 0 ] && echo "PASS ldd: nothing missing; non-torch libraries all from $DEV/lib ($(ls "$DEV"/lib | wc -l) files), torch/CUDA left to the device ($from_torch references), glibc/libstdc++ basics ($basic references)"
  # Runs at all: --version through the same environment (CUDA absent here is fine: LibTorch loads without a GPU).
  if LD_LIBRARY_PATH="$libdir:$torch_dirs" "$bin" --version > "$DEV/version.txt" 2>&1; then
    echo "PASS run: $(head -1 "$DEV/version.txt")"
  else
    echo "FAIL run: $bin --version: $(tail -3 "$DEV/version.txt")"; fail=1
  fi
  return $fail
}

if [ "$MODE" = check ]; then check_bundle; exit $?; fi

# ---- build -----------------------------------------------------------------------------------------------------
command -v patchelf > /dev/null || { echo "device_bundle: needs patchelf (apt-get install patchelf)" >&2; exit 1; }
prefix=$(scripts/libtorch2.sh)
if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
  # Reuse an existing 2.x build as it is configured (a RelWithDebInfo build stripped is the same -O2 code).
  have=$(sed -n 's/^VR_LIBTORCH_DIR:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
  [ "$have" = "$prefix/torch" ] || {
    echo "device_bundle: $BUILD_DIR is configured for LibTorch '$have', not $prefix/torch; set BUILD_DIR" >&2; exit 1; }
else
  mkdir -p "$BUILD_DIR"
  gen=(); command -v ninja > /dev/null && gen=(-G Ninja)  # as scripts/setup.sh configures
  cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DVR_LIBTORCH_DIR="$prefix/torch" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_UNITY_BUILD=ON -DVR_BUILD_TESTS=OFF > "$BUILD_DIR/configure.log" 2>&1 \
    || { tail -30 "$BUILD_DIR/configure.log"; exit 1; }
fi
# A CUDA LibTorch is the point of the bundle: refuse a configuration that did not compile the CUDA paths in.
grep -qs 'VR_WITH_CUDA=1' "$BUILD_DIR/build.ninja" "$BUILD_DIR/CMakeFiles/vr.dir/flags.make" \
  || { echo "device_bundle: $BUILD_DIR does not define VR_WITH_CUDA=1 (not a CUDA LibTorch)" >&2; exit 1; }
t0=$(date +%s)
nice -n "${NICE:-10}" cmake --build "$BUILD_DIR" --target vrtrain -j "${JOBS:-$(nproc)}"
echo "device_bundle: vrtrain built in $(( $(date +%s) - t0 )) s"

rm -rf "$DEV"; mkdir -p "$DEV/bin" "$DEV/lib"
cp "$BUILD_DIR/vrtrain" "$DEV/bin/vrtrain"
strip --strip-all "$DEV/bin/vrtrain"
# The link's RPATH names this machine's LibTorch; on the device torch comes from LD_LIBRARY_PATH instead, and the
# bundled libraries from $ORIGIN/../lib. DT_RPATH (not RUNPATH): searched before LD_LIBRARY_PATH, so a device
# library of the same soname (another yaml-cpp) cannot replace the one vrtrain was built against.
patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$DEV/bin/vrtrain"

# The closure: everything ldd resolves that is neither a basic runtime library nor torch/CUDA.
torch_dirs=$(torch_dirs_from_build)
while IFS=$'\t' read -r name path; do
  [[ $name =~ $BASIC || $name =~ $TORCH_CUDA ]] && continue
  [ "$path" = "not found" ] && { echo "device_bundle: vrtrain needs $name, not found here" >&2; exit 1; }
  cp -L "$path" "$DEV/lib/$name"
  strip --strip-unneeded "$DEV/lib/$name" 2> /dev/null || true
done < <(LD_LIBRARY_PATH="$torch_dirs" ldd_pairs "$BUILD_DIR/vrtrain")

# Versions of the build (the acceptance run prints them beside the device's).
ver_h() { sed -n "s/^#define $2 *//p" "$1" 2> /dev/null | head -1 | tr -d '"'; }
# TORCH_VERSION is a multi-line macro in 2.11; its parts are one line each (headeronly/ since 2.9, else csrc/api).
vh=$prefix/torch/include/torch/headeronly/version.h
[ -f "$vh" ] || vh=$prefix/torch/include/torch/csrc/api/include/torch/version.h
tv=$(ver_h "$vh" TORCH_VERSION_MAJOR).$(ver_h "$vh" TORCH_VERSION_MINOR).$(ver_h "$vh" TORCH_VERSION_PATCH)
cuda_inc=/usr/local/cuda/include
nccl_h=$(sed -n 's/^VR_NCCL_INCLUDE_DIR:PATH=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
nccl_h=${nccl_h:+$nccl_h/nccl.h}
[ -f "${nccl_h:-/nonexistent}" ] || nccl_h=$prefix/nccl/include/nccl.h  # libtorch2.sh: torch's pinned NCCL
[ -f "$nccl_h" ] || nccl_h=$cuda_inc/nccl.h
glibc=$(objdump -T "$DEV/bin/vrtrain" "$DEV"/lib/*.so* 2> /dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
glibcxx=$(objdump -T "$DEV/bin/vrtrain" "$DEV"/lib/*.so* 2> /dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
cat > "$DEV/versions.json" << EOF
{
  "commit": "$(git rev-parse HEAD)",
  "dirty": $(git diff --quiet HEAD -- src include tools cmake CMakeLists.txt && echo false || echo true),
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "build_dir": "$BUILD_DIR",
  "build_type": "$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")",
  "libtorch": "$tv",
  "libtorch_prefix": "$prefix/torch",
  "cuda_toolkit": "$(/usr/local/cuda/bin/nvcc --version 2> /dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')",
  "cudnn_header": "$(ver_h $cuda_inc/cudnn_version.h CUDNN_MAJOR).$(ver_h $cuda_inc/cudnn_version.h CUDNN_MINOR).$(ver_h $cuda_inc/cudnn_version.h CUDNN_PATCHLEVEL)",
  "nccl_header": "$(ver_h "$nccl_h" NCCL_MAJOR).$(ver_h "$nccl_h" NCCL_MINOR).$(ver_h "$nccl_h" NCCL_PATCH) ($nccl_h)",
  "nccl_torch_pin": "$(cat "$prefix/nccl/version.txt" 2> /dev/null)",
  "compiler": "$(${CXX:-c++} --version | head -1)",
  "build_glibc": "$(ldd --version | head -1 | awk '{print $NF}')",
  "requires_glibc": "$glibc",
  "requires_glibcxx": "$glibcxx",
  "bundled_libs": [$(cd "$DEV/lib" && ls | sed 's/.*/"&"/' | paste -sd, -)]
}
EOF
check_bundle
