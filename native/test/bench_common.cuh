// What the native benchmarks share: a CUDA check that exits, a seeded fill, and the per-layer timer.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define CHECK_CUDA(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("%s: %s\n", #x, cudaGetErrorString(e_)); std::exit(1); } } while (0)

// A decode step runs each shape once per layer, on that layer's own weights: timing 32 distinct operands in turn
// keeps them out of L2, as in the model.
constexpr int kLayers = 32;

// Seeded values in [-scale / 2, scale / 2] from a hash of the index (no generator state).
__global__ void fill_bf16(__nv_bfloat16* p, size_t count, uint32_t seed, float scale) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
        uint32_t h = uint32_t(i) * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
        p[i] = __float2bfloat16((float(h & 0xffff) / 65535.f - 0.5f) * scale);
    }
}

// Microseconds per call of go(l), l = 0..kLayers-1 queued on s: the best of `rounds` rounds after one to warm up.
template <typename F>
float time_layers(F&& go, cudaStream_t s, int rounds = 3) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (int l = 0; l < kLayers; l++) { go(l); }
    float best = 1e30f;
    for (int round = 0; round < rounds; round++) {
        cudaEventRecord(a, s);
        for (int l = 0; l < kLayers; l++) { go(l); }
        cudaEventRecord(b, s);
        cudaEventSynchronize(b);
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        best = std::min(best, ms);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return best * 1e3f / kLayers;
}
