#!/usr/bin/env bash
# On a CUDA machine without network: build the library from local sources, check it against PyTorch, benchmark.
#   native/test/device-build-and-check.sh <sources dir with flash-attention/ and cutlass/> <build dir> [out dir]
# Every step has a time limit, so a hung build or kernel cannot stall the machine.
set -uo pipefail
SRC="$1"; BUILD="$2"; OUT_DIR="${3:-$BUILD}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nvcc --version | tail -2
start=$(date +%s)
if command -v cmake >/dev/null; then
  echo "== cmake $(cmake --version | head -1)"
  timeout 480 cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPSF_NVCC_THREADS=2 \
      -DFLASH_ATTN_SOURCE_DIR="$SRC/flash-attention" -DCUTLASS_SOURCE_DIR="$SRC/cutlass" > "$OUT_DIR/cmake.log" 2>&1 \
    && timeout 480 cmake --build "$BUILD" -j 16 >> "$OUT_DIR/cmake.log" 2>&1
  rc=$?
  tail -5 "$OUT_DIR/cmake.log"
else
  echo "== no cmake: nvcc script"
  timeout 480 "$HERE/build-nvcc.sh" "$SRC/flash-attention" "$SRC/cutlass" "$BUILD" 16 > "$OUT_DIR/build.log" 2>&1
  rc=$?
  tail -5 "$OUT_DIR/build.log"
fi
echo "== build rc=$rc in $(( $(date +%s) - start )) s"
LIB="$BUILD/libpagedsim_flash.so"
[ -f "$LIB" ] || { echo "no library built"; exit 1; }
ls -la "$LIB"
[ "$OUT_DIR" != "$BUILD" ] && cp "$LIB" "$OUT_DIR/"
timeout 300 python3 "$HERE/test/check_flash.py" --lib "$LIB" 2>&1 | tee "$OUT_DIR/check.log"
rc=${PIPESTATUS[0]}
timeout 120 python3 "$HERE/test/check_kernels.py" --lib "$LIB" 2>&1 | tee "$OUT_DIR/check_kernels.log"
[ "${PIPESTATUS[0]}" -ne 0 ] && rc=1
timeout 240 python3 "$HERE/test/check_paged.py" --lib "$LIB" 2>&1 | tee "$OUT_DIR/check_paged.log"
[ "${PIPESTATUS[0]}" -ne 0 ] && rc=1
exit "$rc"
