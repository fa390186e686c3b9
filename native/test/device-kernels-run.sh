#!/usr/bin/env bash
# One device call: build the library from the carried native/ tree (CMake), then check_kernels, check_flash (no bench)
# and check_paged (with its benchmark); the .so and the logs go to $OUT.
#   native/test/device-kernels-run.sh <native dir> <sources tar.xz> <out dir>
set -uo pipefail
NATIVE="$(cd "$1" && pwd)"; TAR="$2"; OUT_DIR="$3"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
mkdir -p /tmp/src && tar -xJf "$TAR" -C /tmp/src
build() {
  rm -rf /tmp/build && timeout 300 cmake -S "$NATIVE" -B /tmp/build -DCMAKE_BUILD_TYPE=Release -DPSF_NVCC_THREADS=2 \
      -DFLASH_ATTN_SOURCE_DIR=/tmp/src/flash-attention -DCUTLASS_SOURCE_DIR=/tmp/src/cutlass > "$OUT_DIR/$1" 2>&1 \
    && timeout 400 cmake --build /tmp/build -j 16 >> "$OUT_DIR/$1" 2>&1
}
start=$(date +%s)
build cmake.log; rc=$?
echo "== build rc=$rc in $(( $(date +%s) - start )) s"
grep -E "error|warning: .*paged" "$OUT_DIR/cmake.log" | head -40
if [ $rc -ne 0 ] && [ -f "$NATIVE/../paged_attention_fallback.cu" ]; then
  echo "== retry with the fallback paged_attention.cu"
  cp "$NATIVE/../paged_attention_fallback.cu" "$NATIVE/src/paged_attention.cu"
  build cmake-fallback.log; rc=$?; echo "== rebuild rc=$rc"
fi
if [ $rc -ne 0 ]; then
  echo "== retry without paged_attention.cu"
  sed -i 's# src/paged_attention.cu##' "$NATIVE/CMakeLists.txt"
  build cmake-nopaged.log; echo "== rebuild rc=$?"; grep -E "error" "$OUT_DIR/cmake-nopaged.log" | head -20
fi
LIB=/tmp/build/libpagedsim_flash.so
[ -f "$LIB" ] || { echo "no library"; exit 1; }
cp "$LIB" "$OUT_DIR/"
timeout 150 python3 "$NATIVE/test/check_kernels.py" --lib "$LIB" > "$OUT_DIR/check_kernels.log" 2>&1; echo "== check_kernels rc=$?"; tail -3 "$OUT_DIR/check_kernels.log"
timeout 150 python3 "$NATIVE/test/check_flash.py" --lib "$LIB" --no-bench > "$OUT_DIR/check_flash.log" 2>&1; echo "== check_flash rc=$?"; tail -2 "$OUT_DIR/check_flash.log"
timeout 200 python3 "$NATIVE/test/check_paged.py" --lib "$LIB" > "$OUT_DIR/check_paged.log" 2>&1; echo "== check_paged rc=$?"
grep -E "FAIL|correctness|^\||bench" "$OUT_DIR/check_paged.log" | head -60
