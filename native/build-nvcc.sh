#!/usr/bin/env bash
# Builds libpagedsim_flash.so with nvcc alone, for machines without CMake (same sources and flags as CMakeLists.txt).
#   native/build-nvcc.sh <flash-attention dir> <cutlass dir> <output dir> [jobs]
set -euo pipefail
FA_SRC="$1/csrc/flash_attn/src"; CUTLASS_INC="$2/include"; OUT_DIR="$3"; JOBS="${4:-$(nproc)}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT_DIR/obj"
FLAGS=(-O3 -std=c++17 --expt-relaxed-constexpr --expt-extended-lambda --use_fast_math
  -U__CUDA_NO_HALF_OPERATORS__ -U__CUDA_NO_HALF_CONVERSIONS__ -U__CUDA_NO_HALF2_OPERATORS__
  -U__CUDA_NO_BFLOAT16_CONVERSIONS__ -Xcompiler -fPIC -Xcompiler -fvisibility=hidden --threads 2
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a -DPSK_HAVE_SM90A
  -DFLASHATTENTION_DISABLE_DROPOUT -DFLASHATTENTION_DISABLE_ALIBI -DFLASHATTENTION_DISABLE_SOFTCAP
  -DFLASHATTENTION_DISABLE_UNEVEN_K -DFLASHATTENTION_DISABLE_LOCAL
  -I"$HERE/include" -I"$HERE/shim" -I"$FA_SRC" -I"$CUTLASS_INC")
SOURCES=("$HERE/src/pagedsim_flash.cu")
for f in pagedsim_kernels rmsnorm rope_kv_write silu_mul argmax gemv matmul layer_loop paged_attention; do SOURCES+=("$HERE/src/$f.cu"); done
for dtype in bf16 fp16; do for causal in "" _causal; do
  SOURCES+=("$FA_SRC/flash_fwd_split_hdim128_${dtype}${causal}_sm80.cu" "$FA_SRC/flash_fwd_split_align_hdim128_${dtype}${causal}_sm80.cu")
done; done
export OUT_DIR
printf '%s\n' "${SOURCES[@]}" | xargs -P "$JOBS" -I{} sh -c 'nvcc "$@" -c {} -o "$OUT_DIR/obj/$(basename {}).o" && echo "compiled $(basename {})"' _ "${FLAGS[@]}"
nvcc -shared -cudart static -o "$OUT_DIR/libpagedsim_flash.so" "$OUT_DIR"/obj/*.o -ldl
echo "built $OUT_DIR/libpagedsim_flash.so"
