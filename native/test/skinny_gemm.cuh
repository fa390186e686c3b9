// An experiment, not part of the library (docs/runner.md, "Not yet met", says what it measured): a tensor-core matmul
// for the few rows of a decode step: y [rows, n] = x [rows, k] . w [n, k]^T with rows <= 64,
// fp16 or bf16, fp32 accumulation. At these sizes a matmul only streams its weights, so the kernel is built around
// reading each weight byte once at full bandwidth: every warp owns 16 output columns and walks its part of k in
// chunks of 64, each thread loading 32 contiguous bytes of two weight rows several chunks ahead, straight into the
// registers the mma instructions read (no shared memory). The weight elements a thread holds are not the ones the
// mma layout names; x is loaded with the same permutation of k, which leaves every dot product unchanged.
// When the columns alone give too few thread blocks to fill the GPU, k is split across blocks: each writes an fp32
// partial and the last block of a column group to finish adds the partials in split order (a deterministic result).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace psk_skinny {

constexpr int kChunk = 64;       // k per step: 128 bytes of each weight row
constexpr int kWarpColumns = 16;  // output columns per warp: the m dimension of one m16n8k16 mma
constexpr int kMaxRows = 64;     // eight n8 tiles

__device__ __forceinline__ void allow_next_launch_() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void wait_for_previous_() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// d += a . b for a 16x16 (row) by 16x8 (column) tile.
template <typename T>
__device__ __forceinline__ void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma<__nv_bfloat16>(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}

template <>
__device__ __forceinline__ void mma<__half>(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}

// Weights are read once: keep them out of L1, which holds x for the block's other warps.
__device__ __forceinline__ uint4 load_weights(const void* p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

__device__ __forceinline__ uint32_t word(const uint4& lo, const uint4& hi, int i) {
    const uint4& v = i < 4 ? lo : hi;
    switch (i & 3) {
        case 0: return v.x;
        case 1: return v.y;
        case 2: return v.z;
        default: return v.w;
    }
}

template <typename T> __device__ __forceinline__ T from_float_(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_float_<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float_<__half>(float x) { return __float2half_rn(x); }

// One block: WARPS warps side by side over 16 * WARPS output columns, all on the same range of k (so x, read through
// L1, is shared by them). MT = n8 tiles of rows (rows <= 8 * MT). STAGES = chunks of weights in flight per warp; x is
// loaded one chunk ahead. early_weights: the first weight loads go out before waiting for the previous kernel (which
// must not write w).
template <typename T, int MT, int WARPS, int STAGES>
__global__ void __launch_bounds__(32 * WARPS) skinny_gemm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                                                                 float* __restrict__ partial, unsigned* __restrict__ counters,
                                                                 int rows, int n, int k, bool early_weights) {
    allow_next_launch_();
    if (!early_weights) { wait_for_previous_(); }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int col0 = (blockIdx.x * WARPS + warp) * kWarpColumns;
    const bool active = col0 < n;  // n is a multiple of 16
    const int chunks = k / kChunk, splits = gridDim.y;
    const int c_begin = int(int64_t(chunks) * blockIdx.y / splits), c_end = int(int64_t(chunks) * (blockIdx.y + 1) / splits);
    // This thread's 16 elements of each chunk in weight rows col0 + g and col0 + g + 8.
    const T* w0 = w + size_t(active ? col0 + g : 0) * k + 16 * t;
    const T* w1 = w0 + size_t(8) * k;
    uint4 wbuf[STAGES][4];
#pragma unroll
    for (int s = 0; s < STAGES; s++) {
        const int c = c_begin + s;
        if (active && c < c_end) {
            wbuf[s][0] = load_weights(w0 + c * kChunk);
            wbuf[s][1] = load_weights(w0 + c * kChunk + 8);
            wbuf[s][2] = load_weights(w1 + c * kChunk);
            wbuf[s][3] = load_weights(w1 + c * kChunk + 8);
        }
    }
    if (early_weights) { wait_for_previous_(); }
    float acc[MT][4];
#pragma unroll
    for (int m = 0; m < MT; m++) { acc[m][0] = acc[m][1] = acc[m][2] = acc[m][3] = 0.f; }
    // x rows 8m + g at this thread's 16 elements of a chunk; rows past the last read as zeros.
    uint4 xn[MT][2];
    auto load_x = [&](int c) {
#pragma unroll
        for (int m = 0; m < MT; m++) {
            const int r = m * 8 + g;
            if (r < rows) {
                const uint4* p = reinterpret_cast<const uint4*>(x + size_t(r) * k + c * kChunk + 16 * t);
                xn[m][0] = __ldg(p);
                xn[m][1] = __ldg(p + 1);
            } else {
                xn[m][0] = xn[m][1] = make_uint4(0, 0, 0, 0);
            }
        }
    };
    if (active && c_begin < c_end) { load_x(c_begin); }
    if (active) {
        for (int c0 = c_begin; c0 < c_end; c0 += STAGES) {
#pragma unroll
            for (int s = 0; s < STAGES; s++) {
                const int c = c0 + s;
                if (c < c_end) {
                    const uint4 a_lo0 = wbuf[s][0], a_hi0 = wbuf[s][1], a_lo1 = wbuf[s][2], a_hi1 = wbuf[s][3];
                    const int next = c + STAGES;
                    if (next < c_end) {
                        wbuf[s][0] = load_weights(w0 + next * kChunk);
                        wbuf[s][1] = load_weights(w0 + next * kChunk + 8);
                        wbuf[s][2] = load_weights(w1 + next * kChunk);
                        wbuf[s][3] = load_weights(w1 + next * kChunk + 8);
                    }
                    uint4 xv[MT][2];
#pragma unroll
                    for (int m = 0; m < MT; m++) { xv[m][0] = xn[m][0]; xv[m][1] = xn[m][1]; }
                    if (c + 1 < c_end) { load_x(c + 1); }
#pragma unroll
                    for (int step = 0; step < 4; step++) {
                        const uint32_t a0 = word(a_lo0, a_hi0, 2 * step), a1 = word(a_lo1, a_hi1, 2 * step);
                        const uint32_t a2 = word(a_lo0, a_hi0, 2 * step + 1), a3 = word(a_lo1, a_hi1, 2 * step + 1);
#pragma unroll
                        for (int m = 0; m < MT; m++) {
                            mma<T>(acc[m], a0, a1, a2, a3, word(xv[m][0], xv[m][1], 2 * step), word(xv[m][0], xv[m][1], 2 * step + 1));
                        }
                    }
                }
            }
        }
    }
    // acc[m] holds columns col0 + g (+ 8 for [2], [3]) of rows 8m + 2t (+ 1 for [1], [3]).
    if (splits == 1) {
        if (!active) { return; }
#pragma unroll
        for (int m = 0; m < MT; m++) {
            const int r = m * 8 + 2 * t, c = col0 + g;
            if (r < rows) { y[size_t(r) * n + c] = from_float_<T>(acc[m][0]); y[size_t(r) * n + c + 8] = from_float_<T>(acc[m][2]); }
            if (r + 1 < rows) { y[size_t(r + 1) * n + c] = from_float_<T>(acc[m][1]); y[size_t(r + 1) * n + c + 8] = from_float_<T>(acc[m][3]); }
        }
        return;
    }
    if (active) {
        float* p = partial + size_t(blockIdx.y) * rows * n;
#pragma unroll
        for (int m = 0; m < MT; m++) {
            const int r = m * 8 + 2 * t, c = col0 + g;
            if (r < rows) { p[size_t(r) * n + c] = acc[m][0]; p[size_t(r) * n + c + 8] = acc[m][2]; }
            if (r + 1 < rows) { p[size_t(r + 1) * n + c] = acc[m][1]; p[size_t(r + 1) * n + c + 8] = acc[m][3]; }
        }
    }
    // The last block of this column group to get here adds all splits' partials (threadFenceReduction's pattern).
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) { last = atomicAdd(&counters[blockIdx.x], 1u) == unsigned(splits - 1); }
    __syncthreads();
    if (!last) { return; }
    __threadfence();
    const int group0 = blockIdx.x * WARPS * kWarpColumns;
    const int width = min(WARPS * kWarpColumns, n - group0);
    for (int i = threadIdx.x; i < rows * width; i += blockDim.x) {
        const int r = i / width, c = group0 + i % width;
        float sum = 0.f;
        for (int s = 0; s < splits; s++) { sum += __ldcg(partial + (size_t(s) * rows + r) * n + c); }
        y[size_t(r) * n + c] = from_float_<T>(sum);
    }
    if (threadIdx.x == 0) { counters[blockIdx.x] = 0; }  // ready for the next call
}

}  // namespace psk_skinny
