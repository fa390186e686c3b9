// A tensor-core matmul for the few rows of a small-batch decode step: y [rows, n] = x [rows, k] . w [n, k]^T with
// rows <= 64, fp16 or bf16, fp32 accumulation. At these sizes a matmul only streams its weights. Every warp owns 16
// output columns; the block streams its columns' weight rows and all x rows through shared memory in stages of
// SUB chunks of 64 along k, STAGES deep (cp.async), so each weight byte is read once, in whole 128-byte lines.
// The weight elements a thread feeds the mma instructions are not the ones their layout names; x is read with the
// same permutation of k, which leaves every dot product unchanged.
// When the columns alone give too few thread blocks to fill the GPU, k is split across the blocks of a thread-block
// cluster (sm_90), which add their fp32 tiles through distributed shared memory in split order (a deterministic sum).
// docs/runner.md ("Benchmarking the decode step") has its measurements against cuBLAS.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "pdl.cuh"

namespace psk_skinny {

constexpr int kChunk = 64;        // k per chunk: 128 bytes of each weight row
constexpr int kWarpColumns = 16;  // output columns per warp: the m dimension of one m16n8k16 mma

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

// 16 bytes global -> shared without registers; `bytes` 0 fills zeros (rows past the matrix).
__device__ __forceinline__ void copy_async_16(void* shared, const void* global, int bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(shared));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(global), "r"(bytes) : "memory");
#endif
}

__device__ __forceinline__ void commit_async_copies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

// Waits until at most `pending` committed groups of this thread's copies are still in flight.
template <int pending>
__device__ __forceinline__ void wait_async_copies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" :: "n"(pending) : "memory");
#endif
}

// A chunk of a row (64 elements, 128 bytes) is 8 pieces of 16 bytes; of chunk j of a stage a thread reads pieces
// 8j + t and 8j + t + 4 of rows g and g + 8. Odd rows store each chunk's pieces swapped by halves (piece ^ 4), so the
// 8 threads of a quarter-warp (rows g, g + 1) read 8 distinct 16-byte bank groups, and rows need no padding.
__device__ __forceinline__ int swizzle(int row, int piece) { return piece ^ ((row & 1) << 2); }

// Bytes of one pipeline stage: `sub` chunks of the block's weight rows and of every x row.
__host__ __device__ constexpr int stage_bytes(int mt, int warps, int sub) { return (warps * kWarpColumns + 8 * mt) * kChunk * sub * 2; }

// Dynamic shared memory of a launch: the pipeline's stages, or the fp32 tile the split reduction leaves if larger.
__host__ __device__ constexpr int launch_shared_bytes(int mt, int warps, int stages, int sub) {
    return stages * stage_bytes(mt, warps, sub) > 8 * mt * warps * kWarpColumns * 4 ? stages * stage_bytes(mt, warps, sub) : 8 * mt * warps * kWarpColumns * 4;
}

// One block: WARPS warps side by side over 16 * WARPS output columns, all on the same range of k, which the block
// streams through shared memory in stages of SUB chunks of 64 (weights and x together), STAGES deep, with cp.async.
// MT = n8 tiles of rows (rows <= 8 * MT). early_weights: the first chunks' weights are requested before waiting for
// the previous kernel (which must not write w).
template <typename T, int MT, int WARPS, int STAGES, int SUB>
__global__ void __launch_bounds__(32 * WARPS) skinny_gemm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                                                                 int rows, int n, int k, bool early_weights) {
    constexpr int kColumns = WARPS * kWarpColumns, kRows = 8 * MT, kThreads = 32 * WARPS;
    constexpr int kPieces = 8 * SUB;                              // 16-byte pieces of a row in a stage
    constexpr int kStageVectors = (kColumns + kRows) * kPieces;  // weight rows, then x rows
    extern __shared__ uint4 stages[];
    psk_device::allow_next_launch();
    if (!early_weights) { psk_device::wait_for_previous(); }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int group0 = blockIdx.x * kColumns, col0 = group0 + warp * kWarpColumns;
    const int chunks = k / (kChunk * SUB), splits = gridDim.y;
    const int c_begin = int(int64_t(chunks) * blockIdx.y / splits), c_end = int(int64_t(chunks) * (blockIdx.y + 1) / splits);
    const int count = c_end - c_begin;
    auto load_weights_chunk = [&](int i) {  // chunk c_begin + i into stage i % STAGES
        uint4* stage = stages + (i % STAGES) * kStageVectors;
        const int c = c_begin + i;
#pragma unroll
        for (int v = threadIdx.x; v < kColumns * kPieces; v += kThreads) {
            const int r = v / kPieces, piece = v % kPieces, row = group0 + r;
            copy_async_16(stage + r * kPieces + swizzle(r, piece), w + size_t(row < n ? row : 0) * k + c * kChunk * SUB + piece * 8, row < n ? 16 : 0);
        }
    };
    auto load_x_chunk = [&](int i) {
        uint4* stage = stages + (i % STAGES) * kStageVectors + kColumns * kPieces;
        const int c = c_begin + i;
#pragma unroll
        for (int v = threadIdx.x; v < kRows * kPieces; v += kThreads) {
            const int r = v / kPieces, piece = v % kPieces;
            copy_async_16(stage + r * kPieces + swizzle(r, piece), x + size_t(r < rows ? r : 0) * k + c * kChunk * SUB + piece * 8, r < rows ? 16 : 0);
        }
    };
    // Prologue: STAGES - 1 chunks in flight, one commit group each (the early weight loads join the first group).
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) { if (i < count) { load_weights_chunk(i); } }
    if (early_weights) { psk_device::wait_for_previous(); }
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) {
        if (i < count) { load_x_chunk(i); }
        commit_async_copies();
    }
    float acc[MT][4];
#pragma unroll
    for (int m = 0; m < MT; m++) { acc[m][0] = acc[m][1] = acc[m][2] = acc[m][3] = 0.f; }
    const int wrow = warp * kWarpColumns + g;  // this thread's first weight row in a stage (the second is 8 further)
    for (int i = 0; i < count; i++) {
        wait_async_copies<STAGES - 2>();  // chunk i has landed (for this thread's copies)
        __syncthreads();                  // ... and for everyone's; and stage (i - 1) % STAGES is free again
        if (i + STAGES - 1 < count) {
            load_weights_chunk(i + STAGES - 1);
            load_x_chunk(i + STAGES - 1);
        }
        commit_async_copies();
        const uint4* stage = stages + (i % STAGES) * kStageVectors;
        const uint4* xs = stage + kColumns * kPieces;
#pragma unroll
        for (int j = 0; j < SUB; j++) {
            const uint4 a_lo0 = stage[wrow * kPieces + swizzle(wrow, 8 * j + t)], a_hi0 = stage[wrow * kPieces + swizzle(wrow, 8 * j + t + 4)];
            const uint4 a_lo1 = stage[(wrow + 8) * kPieces + swizzle(wrow + 8, 8 * j + t)];
            const uint4 a_hi1 = stage[(wrow + 8) * kPieces + swizzle(wrow + 8, 8 * j + t + 4)];
#pragma unroll
            for (int half = 0; half < 2; half++) {
                uint4 xv[MT];
#pragma unroll
                for (int m = 0; m < MT; m++) {
                    const int r = m * 8 + g;
                    xv[m] = xs[r * kPieces + swizzle(r, 8 * j + t + 4 * half)];
                }
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int step = 2 * half + h;
                    const uint32_t a0 = word(a_lo0, a_hi0, 2 * step), a1 = word(a_lo1, a_hi1, 2 * step);
                    const uint32_t a2 = word(a_lo0, a_hi0, 2 * step + 1), a3 = word(a_lo1, a_hi1, 2 * step + 1);
#pragma unroll
                    for (int m = 0; m < MT; m++) {
                        mma<T>(acc[m], a0, a1, a2, a3, h == 0 ? xv[m].x : xv[m].z, h == 0 ? xv[m].y : xv[m].w);
                    }
                }
            }
        }
    }
    wait_async_copies<0>();
    const bool active = col0 < n;
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
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // The splits of k of this column group are one thread-block cluster: each block leaves its fp32 tile in its own
    // shared memory (x is no longer needed), and each adds up a slice of the tile across the cluster's blocks in split
    // order (a deterministic sum), reading the others' shared memory directly.
    float* tile = reinterpret_cast<float*>(stages);  // [8 * MT rows][kColumns]
    __syncthreads();
#pragma unroll
    for (int m = 0; m < MT; m++) {
        const int r = m * 8 + 2 * t, c = warp * kWarpColumns + g;
        tile[r * kColumns + c] = acc[m][0];
        tile[r * kColumns + c + 8] = acc[m][2];
        tile[(r + 1) * kColumns + c] = acc[m][1];
        tile[(r + 1) * kColumns + c + 8] = acc[m][3];
    }
    cooperative_groups::cluster_group cluster = cooperative_groups::this_cluster();
    cluster.sync();
    const int rank = int(cluster.block_rank());
    const int width = min(kColumns, n - group0);
    const int quads = rows * kColumns / 4, first = quads * rank / splits, last = quads * (rank + 1) / splits;
    for (int i = first + threadIdx.x; i < last; i += blockDim.x) {
        const int r = i / (kColumns / 4), c = (i % (kColumns / 4)) * 4;
        if (c >= width) { continue; }
        float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int s = 0; s < splits; s++) {
            const float4 v = *reinterpret_cast<const float4*>(cluster.map_shared_rank(tile, s) + r * kColumns + c);
            sum.x += v.x; sum.y += v.y; sum.z += v.z; sum.w += v.w;
        }
        T* out = y + size_t(r) * n + group0 + c;
        out[0] = from_float_<T>(sum.x); out[1] = from_float_<T>(sum.y); out[2] = from_float_<T>(sum.z); out[3] = from_float_<T>(sum.w);
    }
    cluster.sync();  // the other blocks' tiles stay until every block has read them
#endif
}

// Launches skinny_gemm_kernel<T, MT, WARPS, STAGES, SUB> on the current device (`device`) over n columns with k split
// `splits` ways (a cluster of
// that many blocks; at most 8, or 16 where the device allows non-portable clusters). Needs compute capability 9.0,
// rows <= 8 * MT, n a multiple of 16, k a multiple of 64 * SUB with at least `splits` stages, x and w 16-byte
// aligned. pdl: the launch may start before the previous kernel in s ends (programmatic dependent launch);
// early_weights as the kernel takes it.
template <typename T, int MT, int WARPS, int STAGES, int SUB>
cudaError_t launch_skinny(int device, const T* x, const T* w, T* y, int rows, int n, int k, int splits, bool early_weights, bool pdl, cudaStream_t s) {
    auto kernel = skinny_gemm_kernel<T, MT, WARPS, STAGES, SUB>;
    constexpr int kShared = launch_shared_bytes(MT, WARPS, STAGES, SUB);
    static_assert(kShared <= 227 * 1024, "the stages exceed the shared memory of a block");
    // The kernel's attributes, once per instantiation and device (a benign race: the same values are set).
    constexpr int kDevices = 64;
    static bool prepared[kDevices] = {};
    if (device < 0 || device >= kDevices) { return cudaErrorInvalidDevice; }
    if (!prepared[device]) {
        cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kShared);
        if (e == cudaSuccess) { e = cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1); }
        if (e != cudaSuccess) { return e; }
        prepared[device] = true;
    }
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(unsigned((n + WARPS * kWarpColumns - 1) / (WARPS * kWarpColumns)), unsigned(splits));
    config.blockDim = dim3(32 * WARPS);
    config.dynamicSmemBytes = kShared;
    config.stream = s;
    cudaLaunchAttribute attribute[2];
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = 1;
    attribute[0].val.clusterDim.y = unsigned(splits);
    attribute[0].val.clusterDim.z = 1;
    attribute[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[1].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = pdl ? 2 : 1;
    return cudaLaunchKernelEx(&config, kernel, x, w, y, rows, n, k, early_weights);
}

}  // namespace psk_skinny
