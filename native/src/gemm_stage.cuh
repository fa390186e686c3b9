// One pipeline stage of the few-row matmuls y [rows, n] = x [rows, k] . w [n, k]^T (skinny_gemm.cuh): a block's
// weight rows and every x row over SUB chunks of 64 along k, copied into shared memory with cp.async, and the
// tensor-core (mma.sync m16n8k16) products of that stage. Weights are the mma's 16-row A operand (each warp owns
// 16 * WT output columns), x rows its 8-column B operand (MT tiles of 8 rows), fp32 accumulation.
// The weight elements a thread feeds the mma instructions are not the ones their layout names; x is read with the
// same permutation of k, which leaves every dot product unchanged.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace psk_gemm {

constexpr int kChunk = 64;        // k per chunk: 128 bytes of each weight row
constexpr int kTileColumns = 16;  // the m dimension of one m16n8k16 mma

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

template <typename T> __device__ __forceinline__ T from_float_(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_float_<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float_<__half>(float x) { return __float2half_rn(x); }
__device__ __forceinline__ float to_float_(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float_(__half x) { return __half2float(x); }

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

// A stage for CW x KS warps: CW warps side by side over the block's columns (16 * WT each), and KS warps over the
// stage's k for each of them (KS slices of the stage's 2 * SUB half-chunks of 32 along k); MT tiles of 8 x rows, SUB
// chunks of k deep. Each x fragment is read from shared memory by CW warps, so at many rows fewer, wider column warps
// (and more k slices) cut the shared-memory traffic per weight byte.
template <typename T, int MT, int WT, int CW, int KS, int SUB>
struct Stage {
    static_assert((2 * SUB) % KS == 0, "k slices divide the stage's half-chunks");
    static constexpr int kWarpColumns = WT * kTileColumns;
    static constexpr int kColumns = CW * kWarpColumns;              // weight rows (output columns) of a block
    static constexpr int kRows = 8 * MT;                            // x rows, padded to whole tiles
    static constexpr int kSlices = KS;
    static constexpr int kWarps = CW * KS;
    static constexpr int kThreads = 32 * kWarps;
    static constexpr int kPieces = 8 * SUB;                         // 16-byte pieces of a row in a stage
    static constexpr int kVectors = (kColumns + kRows) * kPieces;   // weight rows, then x rows
    static constexpr int kBytes = kVectors * 16;

    // Chunks c * SUB .. c * SUB + SUB - 1 of weight rows group0 .. group0 + kColumns - 1 (zeros past n).
    __device__ __forceinline__ static void load_weights(uint4* stage, const T* w, int group0, int n, int k, int c) {
#pragma unroll
        for (int v = threadIdx.x; v < kColumns * kPieces; v += kThreads) {
            const int r = v / kPieces, piece = v % kPieces, row = group0 + r;
            copy_async_16(stage + r * kPieces + swizzle(r, piece), w + size_t(row < n ? row : 0) * k + c * kChunk * SUB + piece * 8, row < n ? 16 : 0);
        }
    }

    // The same chunks of every x row (zeros past rows).
    __device__ __forceinline__ static void load_x(uint4* stage, const T* x, int rows, int k, int c) {
        uint4* xs = stage + kColumns * kPieces;
#pragma unroll
        for (int v = threadIdx.x; v < kRows * kPieces; v += kThreads) {
            const int r = v / kPieces, piece = v % kPieces;
            copy_async_16(xs + r * kPieces + swizzle(r, piece), x + size_t(r < rows ? r : 0) * k + c * kChunk * SUB + piece * 8, r < rows ? 16 : 0);
        }
    }

    // acc += this warp's columns . x over its k slice of the stage. Warp w is column warp w % CW, k slice w / CW.
    // acc[wt][m] holds the column warp's columns 16 wt + g (+ 8 for [2], [3]), rows 8m + 2t (+ 1 for [1], [3]).
    // Half-chunk (j, half) is the pieces 8j + t + 4 half of each row for thread t: the mma's k16 steps 2 half and
    // 2 half + 1 of chunk j under the permutation of k that weights and x share.
    __device__ __forceinline__ static void multiply(const uint4* stage, float (&acc)[WT][MT][4], int warp, int lane) {
        const int g = lane / 4, t = lane % 4, column_warp = warp % CW, slice = warp / CW;
        const uint4* xs = stage + kColumns * kPieces;
#pragma unroll
        for (int p = 0; p < 2 * SUB / KS; p++) {
            const int half_chunk = p * KS + slice, piece = 8 * (half_chunk / 2) + t + 4 * (half_chunk % 2);
            uint4 a0[WT], a1[WT];  // rows g and g + 8 of each column tile
#pragma unroll
            for (int wt = 0; wt < WT; wt++) {
                const int wrow = column_warp * kWarpColumns + wt * kTileColumns + g;
                a0[wt] = stage[wrow * kPieces + swizzle(wrow, piece)];
                a1[wt] = stage[(wrow + 8) * kPieces + swizzle(wrow + 8, piece)];
            }
            uint4 xv[MT];
#pragma unroll
            for (int m = 0; m < MT; m++) {
                const int r = m * 8 + g;
                xv[m] = xs[r * kPieces + swizzle(r, piece)];
            }
#pragma unroll
            for (int h = 0; h < 2; h++) {
#pragma unroll
                for (int wt = 0; wt < WT; wt++) {
                    const uint32_t w0 = h == 0 ? a0[wt].x : a0[wt].z, w1 = h == 0 ? a1[wt].x : a1[wt].z;
                    const uint32_t w2 = h == 0 ? a0[wt].y : a0[wt].w, w3 = h == 0 ? a1[wt].y : a1[wt].w;
#pragma unroll
                    for (int m = 0; m < MT; m++) {
                        mma<T>(acc[wt][m], w0, w1, w2, w3, h == 0 ? xv[m].x : xv[m].z, h == 0 ? xv[m].y : xv[m].w);
                    }
                }
            }
        }
    }

    // y's columns of this warp from acc, for KS = 1 (rows past `rows` and columns past n are skipped; n is a
    // multiple of 16).
    __device__ __forceinline__ static void store(T* y, const float (&acc)[WT][MT][4], int rows, int n, int group0, int warp, int lane) {
        static_assert(KS == 1, "k slices are added up first");
        const int g = lane / 4, t = lane % 4;
#pragma unroll
        for (int wt = 0; wt < WT; wt++) {
            const int c = group0 + warp * kWarpColumns + wt * kTileColumns + g;
            if (c >= n) { continue; }
#pragma unroll
            for (int m = 0; m < MT; m++) {
                const int r = m * 8 + 2 * t;
                if (r < rows) { y[size_t(r) * n + c] = from_float_<T>(acc[wt][m][0]); y[size_t(r) * n + c + 8] = from_float_<T>(acc[wt][m][2]); }
                if (r + 1 < rows) { y[size_t(r + 1) * n + c] = from_float_<T>(acc[wt][m][1]); y[size_t(r + 1) * n + c + 8] = from_float_<T>(acc[wt][m][3]); }
            }
        }
    }
};

// y's columns group0 .. group0 + columns - 1 from the fp32 tiles [rows][columns] that the blocks of this thread-block
// cluster (the `splits` splits of k of one column group) hold in shared memory: each block adds up a
// slice of the tile across the cluster's blocks in split order (a deterministic sum), reading the others' shared
// memory directly. Every thread of every block of the cluster calls it.
template <typename T>
__device__ __forceinline__ void store_split_sum(const float* tile, int columns, T* y, int rows, int n, int group0, int splits) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cooperative_groups::cluster_group cluster = cooperative_groups::this_cluster();
    cluster.sync();
    const int rank = int(cluster.block_rank());
    const int width = min(columns, n - group0);
    const int quads = rows * columns / 4, first = quads * rank / splits, last = quads * (rank + 1) / splits;
    for (int i = first + threadIdx.x; i < last; i += blockDim.x) {
        const int r = i / (columns / 4), c = (i % (columns / 4)) * 4;
        if (c >= width) { continue; }
        float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int s = 0; s < splits; s++) {
            const float4 v = *reinterpret_cast<const float4*>(cluster.map_shared_rank(const_cast<float*>(tile), s) + r * columns + c);
            sum.x += v.x; sum.y += v.y; sum.z += v.z; sum.w += v.w;
        }
        T* out = y + size_t(r) * n + group0 + c;
        out[0] = from_float_<T>(sum.x); out[1] = from_float_<T>(sum.y); out[2] = from_float_<T>(sum.z); out[3] = from_float_<T>(sum.w);
    }
    cluster.sync();  // the other blocks' tiles stay until every block has read them
#endif
}

// y's columns group0 .. group0 + columns - 1 from this block's fp32 tile [rows][columns] in shared memory.
template <typename T>
__device__ __forceinline__ void store_tile(const float* tile, int columns, T* y, int rows, int n, int group0) {
    const int width = min(columns, n - group0);
    for (int i = threadIdx.x; i < rows * columns; i += blockDim.x) {
        const int r = i / columns, c = i % columns;
        if (c < width) { y[size_t(r) * n + group0 + c] = from_float_<T>(tile[i]); }
    }
}

// Launches kernel(args...) over `groups` column groups x `splits` splits of k, the splits of each column group one
// thread-block cluster (store_split_sum's), with programmatic dependent launch when pdl.
template <typename... Params, typename... Args>
cudaError_t launch_split_clusters(void (*kernel)(Params...), int groups, int splits, int threads, int shared_bytes, bool pdl, cudaStream_t s,
                                  Args... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(unsigned(groups), unsigned(splits));
    config.blockDim = dim3(unsigned(threads));
    config.dynamicSmemBytes = size_t(shared_bytes);
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
    return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

}  // namespace psk_gemm
