// Can the output projection's weights be brought into L2 while decode attention runs? Times, per layer of a
// Llama-3-8B decode step at 49 x 512 tokens (32 distinct KV caches and weight matrices, nothing left in L2 between
// layers): flash attention alone, the wo matmul (cuBLAS) alone, both in sequence, and both in sequence after a bulk
// L2 prefetch of the weights (cp.async.bulk.prefetch.L2, sm_90) issued just before the attention kernel.
//
//   nvcc -O2 -std=c++17 -gencode arch=compute_90,code=sm_90 -I native/include -o bench_l2_prefetch \
//        native/test/bench_l2_prefetch.cu -L<dir of libpagedsim_flash.so> -lpagedsim_flash -lcublas
#include "pagedsim_flash.h"

#include "bench_common.cuh"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>


constexpr int kBatch = 49, kContext = 512, kPage = 256, kHeads = 32, kKvHeads = 8, kHeadDim = 128, kDim = 4096;

__global__ void prefetch_l2(const char* p, size_t bytes, unsigned chunk, int mode) {
    uint64_t policy = 0;
    if (mode == 2) { asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy)); }
    for (size_t off = size_t(blockIdx.x * blockDim.x + threadIdx.x) * chunk; off < bytes; off += size_t(gridDim.x) * blockDim.x * chunk) {
        unsigned n = bytes - off < chunk ? unsigned(bytes - off) : chunk;
        if (mode == 2) {
            asm volatile("cp.async.bulk.prefetch.L2.global.L2::cache_hint [%0], %1, %2;" :: "l"(p + off), "r"(n), "l"(policy) : "memory");
        } else {
            asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" :: "l"(p + off), "r"(n) : "memory");
        }
    }
}



int main(int argc, char** argv) {
    const int batch = argc > 1 ? std::atoi(argv[1]) : kBatch, context = argc > 2 ? std::atoi(argv[2]) : kContext;
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::printf("GPU: %s, L2 %d MB; batch %d x %d tokens\n", prop.name, prop.l2CacheSize >> 20, batch, context);
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    cublasHandle_t blas;
    cublasCreate(&blas);
    cublasSetStream(blas, s);
    const int blocks_per_seq = (context + kPage - 1) / kPage, blocks = batch * blocks_per_seq;
    const size_t kv_elems = size_t(blocks) * kPage * kKvHeads * kHeadDim;
    std::vector<__nv_bfloat16*> k(kLayers), v(kLayers), wo(kLayers);
    for (int l = 0; l < kLayers; l++) {
        CHECK_CUDA(cudaMalloc(&k[l], kv_elems * 2));
        CHECK_CUDA(cudaMalloc(&v[l], kv_elems * 2));
        CHECK_CUDA(cudaMalloc(&wo[l], size_t(kDim) * kDim * 2));
        fill_bf16<<<512, 256, 0, s>>>(k[l], kv_elems, 1 + l, 1.f);
        fill_bf16<<<512, 256, 0, s>>>(v[l], kv_elems, 100 + l, 1.f);
        fill_bf16<<<512, 256, 0, s>>>(wo[l], size_t(kDim) * kDim, 200 + l, 0.05f);
    }
    __nv_bfloat16 *q, *attn, *y;
    CHECK_CUDA(cudaMalloc(&q, size_t(batch) * kDim * 2));
    CHECK_CUDA(cudaMalloc(&attn, size_t(batch) * kDim * 2));
    CHECK_CUDA(cudaMalloc(&y, size_t(batch) * kDim * 2));
    fill_bf16<<<64, 256, 0, s>>>(q, size_t(batch) * kDim, 7, 1.f);
    std::vector<int32_t> table(size_t(batch) * blocks_per_seq), lens(batch, context);
    for (int i = 0; i < blocks; i++) { table[i] = (i * 7919) % blocks; }
    int32_t *d_table, *d_lens;
    CHECK_CUDA(cudaMalloc(&d_table, table.size() * 4));
    CHECK_CUDA(cudaMalloc(&d_lens, lens.size() * 4));
    CHECK_CUDA(cudaMemcpy(d_table, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(d_lens, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice));

    psf_fwd_args a;
    std::memset(&a, 0, sizeof a);
    a.dtype = PSF_DTYPE_BF16; a.batch = batch; a.seqlen_q = 1; a.num_heads = kHeads; a.num_heads_k = kKvHeads; a.head_dim = kHeadDim;
    a.softmax_scale = 0.0883883f;
    a.q = q; a.q_batch_stride = kDim; a.q_row_stride = kDim; a.q_head_stride = kHeadDim;
    a.out = attn; a.out_batch_stride = kDim; a.out_row_stride = kDim; a.out_head_stride = kHeadDim;
    a.k_batch_stride = a.v_batch_stride = int64_t(kPage) * kKvHeads * kHeadDim;
    a.k_row_stride = a.v_row_stride = kKvHeads * kHeadDim;
    a.k_head_stride = a.v_head_stride = kHeadDim;
    a.cache_batch = blocks; a.cache_len = kPage;
    a.block_table = d_table; a.block_table_host = table.data(); a.block_table_stride = blocks_per_seq; a.max_blocks_per_seq = blocks_per_seq;
    a.seqlens_k = d_lens; a.seqlens_k_host = lens.data(); a.max_seqlen_k = context;
    a.device = 0; a.stream = s;
    int32_t splits = 0;
    int64_t ws_bytes = 0;
    if (psf_plan(&a, 1, &splits, &ws_bytes) != 0) { std::printf("plan: %s\n", psf_last_error()); return 1; }
    CHECK_CUDA(cudaMalloc(&a.workspace, std::max<int64_t>(ws_bytes, 16)));
    a.workspace_bytes = ws_bytes;
    a.block_table_host = nullptr;  // checked once above; the timed calls skip the host-side range check
    a.seqlens_k_host = nullptr;

    auto attention = [&](int l) {
        a.k = k[l];
        a.v = v[l];
        if (psf_fwd_paged(&a) != 0) { std::printf("attention: %s\n", psf_last_error()); std::exit(1); }
    };
    const float one = 1.f, zero = 0.f;
    auto gemm = [&](int l) {
        cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, kDim, batch, kDim, &one, wo[l], CUDA_R_16BF, kDim, attn, CUDA_R_16BF, kDim, &zero, y,
                     CUDA_R_16BF, kDim, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    const size_t wbytes = size_t(kDim) * kDim * 2;
    auto prefetch = [&](int l, int mode, int ctas, unsigned chunk) { prefetch_l2<<<ctas, 32, 0, s>>>(reinterpret_cast<const char*>(wo[l]), wbytes, chunk, mode); };
    const double kv_gb = double(batch) * context * kKvHeads * kHeadDim * 2 * 2 / 1e9, w_gb = wbytes / 1e9;
    const float t_attn = time_layers(attention, s, 5);
    const float t_gemm = time_layers(gemm, s, 5);
    const float t_both = time_layers([&](int l) { attention(l); gemm(l); }, s, 5);
    std::printf("attention %.1f us (%.2f TB/s); wo matmul %.1f us (%.2f TB/s); attention then matmul %.1f us (%.2f TB/s)\n", t_attn,
                kv_gb / t_attn * 1e3, t_gemm, w_gb / t_gemm * 1e3, t_both, (kv_gb + w_gb) / t_both * 1e3);
    std::printf("prefetch alone then matmul: ");
    for (int mode : {1, 2}) {
        float t = time_layers([&](int l) { prefetch(l, mode, 8, 65536); gemm(l); }, s, 5);
        std::printf("%s %.1f us  ", mode == 2 ? "evict_last" : "normal", t);
    }
    std::printf("\n| prefetch | CTAs x 32 | chunk KB | prefetch + attention + matmul us | TB/s | vs attention then matmul |\n");
    for (int mode : {1, 2}) {
        for (int ctas : {1, 8, 64}) {
            for (unsigned chunk : {16384u, 65536u, 262144u}) {
                float t = time_layers([&](int l) { prefetch(l, mode, ctas, chunk); attention(l); gemm(l); }, s, 5);
                std::printf("| %s | %d | %u | %.1f | %.2f | %+.1f |\n", mode == 2 ? "evict_last" : "normal", ctas, chunk / 1024, t, (kv_gb + w_gb) / t * 1e3, t - t_both);
            }
        }
    }
    CHECK_CUDA(cudaDeviceSynchronize());
    return 0;
}
