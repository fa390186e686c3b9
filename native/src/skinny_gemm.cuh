// A tensor-core matmul for the few rows of a small-batch decode step: y [rows, n] = x [rows, k] . w [n, k]^T with
// rows <= 64, fp16 or bf16, fp32 accumulation. At these sizes a matmul only streams its weights. Every warp owns 16
// output columns; the block streams its columns' weight rows and all x rows through shared memory in stages of
// SUB chunks of 64 along k, STAGES deep (cp.async, gemm_stage.cuh), so each weight byte is read once, in whole
// 128-byte lines.
// When the columns alone give too few thread blocks to fill the GPU, k is split across the blocks of a thread-block
// cluster (sm_90), which add their fp32 tiles through distributed shared memory in split order (a deterministic sum).
// docs/runner.md ("Benchmarking the decode step") has its measurements against cuBLAS.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gemm_stage.cuh"
#include "pdl.cuh"

namespace psk_skinny {

using psk_gemm::kChunk;

// Dynamic shared memory of a launch: the pipeline's stages, or the fp32 tiles of the k slices the reduction leaves if
// larger.
template <typename Stage, int STAGES>
constexpr int launch_shared_bytes() {
    constexpr int kPipeline = STAGES * Stage::kBytes, kTiles = Stage::kSlices * Stage::kRows * Stage::kColumns * 4;
    return kPipeline > kTiles ? kPipeline : kTiles;
}

// One block: CW x KS warps (gemm_stage.cuh's Stage) over 16 * WT * CW output columns and the block's range of k,
// which it streams through shared memory in stages of SUB chunks of 64 (weights and x together), STAGES deep, with
// cp.async. MT = n8 tiles of rows (rows <= 8 * MT). early_weights: the first chunks' weights are requested before
// waiting for the previous kernel (which must not write w).
template <typename T, int MT, int WT, int CW, int KS, int STAGES, int SUB>
__global__ void __launch_bounds__(32 * CW * KS) skinny_gemm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                                                                   int rows, int n, int k, bool early_weights) {
    using Stage = psk_gemm::Stage<T, MT, WT, CW, KS, SUB>;
    constexpr int kColumns = Stage::kColumns, kRows = Stage::kRows;
    extern __shared__ uint4 stages[];
    psk_device::allow_next_launch();
    if (!early_weights) { psk_device::wait_for_previous(); }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int group0 = blockIdx.x * kColumns;
    const int chunks = k / (kChunk * SUB), splits = gridDim.y;
    const int c_begin = int(int64_t(chunks) * blockIdx.y / splits), c_end = int(int64_t(chunks) * (blockIdx.y + 1) / splits);
    const int count = c_end - c_begin;
    // Prologue: STAGES - 1 chunks in flight, one commit group each (the early weight loads join the first group).
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) { if (i < count) { Stage::load_weights(stages + i * Stage::kVectors, w, group0, n, k, c_begin + i); } }
    if (early_weights) { psk_device::wait_for_previous(); }
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) {
        if (i < count) { Stage::load_x(stages + i * Stage::kVectors, x, rows, k, c_begin + i); }
        psk_gemm::commit_async_copies();
    }
    float acc[WT][MT][4] = {};
    for (int i = 0; i < count; i++) {
        psk_gemm::wait_async_copies<STAGES - 2>();  // chunk i has landed (for this thread's copies)
        __syncthreads();                            // ... and for everyone's; and stage (i - 1) % STAGES is free again
        if (i + STAGES - 1 < count) {
            uint4* next = stages + ((i + STAGES - 1) % STAGES) * Stage::kVectors;
            Stage::load_weights(next, w, group0, n, k, c_begin + i + STAGES - 1);
            Stage::load_x(next, x, rows, k, c_begin + i + STAGES - 1);
        }
        psk_gemm::commit_async_copies();
        Stage::multiply(stages + (i % STAGES) * Stage::kVectors, acc, warp, lane);
    }
    psk_gemm::wait_async_copies<0>();
    if constexpr (KS == 1) {
        if (splits == 1) {
            Stage::store(y, acc, rows, n, group0, warp, lane);
            return;
        }
    }
    // The fp32 tile of each k slice in shared memory (x is no longer needed): [KS][kRows][kColumns].
    float* tile = reinterpret_cast<float*>(stages);
    __syncthreads();
    {
        const int g = lane / 4, t = lane % 4, column_warp = warp % CW, slice = warp / CW;
        float* mine = tile + slice * kRows * kColumns;
#pragma unroll
        for (int wt = 0; wt < WT; wt++) {
#pragma unroll
            for (int m = 0; m < MT; m++) {
                const int r = m * 8 + 2 * t, c = column_warp * Stage::kWarpColumns + wt * psk_gemm::kTileColumns + g;
                mine[r * kColumns + c] = acc[wt][m][0];
                mine[r * kColumns + c + 8] = acc[wt][m][2];
                mine[(r + 1) * kColumns + c] = acc[wt][m][1];
                mine[(r + 1) * kColumns + c + 8] = acc[wt][m][3];
            }
        }
    }
    if constexpr (KS > 1) {
        // The k slices added in slice order into the first tile.
        __syncthreads();
        for (int i = threadIdx.x; i < rows * kColumns; i += blockDim.x) {
            float sum = tile[i];
#pragma unroll
            for (int slice = 1; slice < KS; slice++) { sum += tile[slice * kRows * kColumns + i]; }
            tile[i] = sum;
        }
        if (splits == 1) {
            __syncthreads();
            psk_gemm::store_tile<T>(tile, kColumns, y, rows, n, group0);
            return;
        }
    }
    psk_gemm::store_split_sum<T>(tile, kColumns, y, rows, n, group0, splits);
}

// Launches skinny_gemm_kernel<T, MT, WT, CW, KS, STAGES, SUB> on the current device (`device`) over n columns with k
// split `splits` ways (a cluster of that many blocks; at most 8, or 16 where the device allows non-portable
// clusters). Needs compute capability 9.0, rows <= 8 * MT, n a multiple of 16, k a multiple of 64 * SUB with at
// least `splits` stages, x and w 16-byte aligned. pdl: the launch may start before the previous kernel in s ends
// (programmatic dependent launch); early_weights as the kernel takes it.
template <typename T, int MT, int WT, int CW, int KS, int STAGES, int SUB>
cudaError_t launch_skinny(int device, const T* x, const T* w, T* y, int rows, int n, int k, int splits, bool early_weights, bool pdl, cudaStream_t s) {
    using Stage = psk_gemm::Stage<T, MT, WT, CW, KS, SUB>;
    auto kernel = skinny_gemm_kernel<T, MT, WT, CW, KS, STAGES, SUB>;
    constexpr int kShared = launch_shared_bytes<Stage, STAGES>();
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
    return psk_gemm::launch_split_clusters(kernel, (n + Stage::kColumns - 1) / Stage::kColumns, splits, Stage::kThreads, kShared, pdl, s, x, w, y,
                                           rows, n, k, early_weights);
}

}  // namespace psk_skinny
