// The read bandwidth a kernel can reach on this GPU, for buffers the size of Llama-3-8B's decode-step operands: each
// size is read from 32 distinct buffers in turn (as the 32 layers are: nothing stays in L2), by a plain streaming
// kernel (16-byte loads, a grid of 4 blocks per SM, a sum kept so the loads stay). The ceiling the matmuls and the
// attention kernel are measured against.
//
//   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o bench_read_bandwidth native/test/bench_read_bandwidth.cu
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

__global__ void read_all(const uint4* p, size_t count, unsigned* sink) {
    unsigned acc = 0;
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
        uint4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u) { *sink = acc; }
}

int main() {
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    std::printf("GPU: %s (%d SMs, L2 %d MB)\n| MB per read | blocks | us | TB/s |\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    unsigned* sink;
    cudaMalloc(&sink, 4);
    cudaStream_t s;
    cudaStreamCreate(&s);
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (size_t bytes : {size_t(33554432), size_t(50331648), size_t(117440512), size_t(234881024), size_t(1050673152)}) {
        const int copies = bytes > (size_t(512) << 20) ? 4 : 32;
        std::vector<uint4*> bufs(copies);
        for (auto& p : bufs) { cudaMalloc(&p, bytes); cudaMemset(p, 1, bytes); }
        for (int per_sm : {2, 4, 8}) {
            const int blocks = per_sm * prop.multiProcessorCount;
            float best = 1e30f;
            for (int rep = 0; rep < 4; rep++) {
                cudaEventRecord(a, s);
                for (int i = 0; i < copies; i++) { read_all<<<blocks, 512, 0, s>>>(bufs[i], bytes / 16, sink); }
                cudaEventRecord(b, s);
                cudaEventSynchronize(b);
                float ms = 0;
                cudaEventElapsedTime(&ms, a, b);
                if (rep > 0) { best = std::min(best, ms / copies); }
            }
            std::printf("| %.1f | %d | %.1f | %.2f |\n", bytes / 1048576.0, blocks, best * 1e3, bytes / (best * 1e-3) / 1e12);
        }
        for (auto p : bufs) { cudaFree(p); }
    }
    return 0;
}
