// The decode matmuls of Llama-3-8B (y [rows, n] = x [rows, k] . w [n, k]^T, bf16) through skinny_gemm.cuh's kernel,
// for every block shape and split of k it offers, next to cublasGemmEx; timed over 32 distinct weight matrices per
// shape (as the 32 layers are: nothing stays in L2), each result checked against cuBLAS's.
//
//   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o bench_skinny native/test/bench_skinny_gemm.cu -lcublas
//   ./bench_skinny [rows,rows,...]
#include "skinny_gemm.cuh"

#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define CHECK_CUDA(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("%s: %s\n", #x, cudaGetErrorString(e_)); std::exit(1); } } while (0)

using bf16 = __nv_bfloat16;
constexpr int kLayers = 32;

template <int MT, int WARPS, int STAGES>
cudaError_t launch_mt(const bf16* x, const bf16* w, bf16* y, float* partial, unsigned* counters, int rows, int n, int k, int splits, bool pdl, cudaStream_t s) {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3((n + WARPS * 16 - 1) / (WARPS * 16), splits);
    config.blockDim = dim3(32 * WARPS);
    config.stream = s;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    if (pdl) { config.attrs = attribute; config.numAttrs = 1; }
    // Chained with PDL, consecutive calls only read w and x and write y: the weights may be loaded early.
    return cudaLaunchKernelEx(&config, psk_skinny::skinny_gemm_kernel<bf16, MT, WARPS, STAGES>, (const bf16*)x, (const bf16*)w, y, partial, counters, rows, n, k, pdl);
}

template <int WARPS, int STAGES>
cudaError_t run(const bf16* x, const bf16* w, bf16* y, float* partial, unsigned* counters, int rows, int n, int k, int splits, bool pdl, cudaStream_t s) {
    switch ((rows + 7) / 8) {
        case 1: return launch_mt<1, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        case 2: return launch_mt<2, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        case 3: return launch_mt<3, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        case 4: return launch_mt<4, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        case 5: return launch_mt<5, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        case 6: return launch_mt<6, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        case 7: return launch_mt<7, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
        default: return launch_mt<8, WARPS, STAGES>(x, w, y, partial, counters, rows, n, k, splits, pdl, s);
    }
}

typedef cudaError_t (*RunFn)(const bf16*, const bf16*, bf16*, float*, unsigned*, int, int, int, int, bool, cudaStream_t);

template <typename F>
float time_layers(F&& go, cudaStream_t s) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (int l = 0; l < kLayers; l++) { go(l); }
    float best = 1e30f;
    for (int rep = 0; rep < 3; rep++) {
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

__global__ void fill(bf16* p, size_t count, uint32_t seed, float scale) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
        uint32_t h = uint32_t(i) * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
        p[i] = __float2bfloat16((float(h & 0xffff) / 65535.f - 0.5f) * scale);
    }
}

int main(int argc, char** argv) {
    std::vector<int> rows_list = {1, 2, 8, 16, 32, 49, 64};
    if (argc > 1) {
        rows_list.clear();
        for (char* p = std::strtok(argv[1], ","); p; p = std::strtok(nullptr, ",")) { rows_list.push_back(std::atoi(p)); }
    }
    struct Shape { const char* name; int n, k, layers; } shapes[] = {
        {"wqkv", 6144, 4096, 32}, {"wo", 4096, 4096, 32}, {"w13", 28672, 4096, 32}, {"w2", 4096, 14336, 32}, {"output", 128256, 4096, 1}};
    struct Variant { const char* name; RunFn fn; int warps; } variants[] = {
        {"4w2s", run<4, 2>, 4}, {"8w1s", run<8, 1>, 8}, {"8w2s", run<8, 2>, 8}, {"8w3s", run<8, 3>, 8}, {"16w1s", run<16, 1>, 16}, {"16w2s", run<16, 2>, 16}, {"32w1s", run<32, 1>, 32}};
    const int split_list[] = {1, 2, 3, 4, 6, 8, 11, 16};
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::printf("GPU: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    cublasHandle_t blas;
    cublasCreate(&blas);
    cublasSetStream(blas, s);
    void* blas_ws;
    CHECK_CUDA(cudaMalloc(&blas_ws, 32 << 20));
    cublasSetWorkspace(blas, blas_ws, 32 << 20);
    float* partial;
    unsigned* counters;
    const size_t partial_floats = size_t(16) << 20;
    CHECK_CUDA(cudaMalloc(&partial, partial_floats * 4));
    CHECK_CUDA(cudaMalloc(&counters, 65536 * 4));
    CHECK_CUDA(cudaMemset(counters, 0, 65536 * 4));
    std::printf("| matmul | rows | cuBLAS us | TB/s | best us | TB/s | best variant | splits | chained PDL us | TB/s | max rel err | variant/splits:us,PDL us |\n");
    std::vector<double> step_blas(rows_list.size()), step_best(rows_list.size()), step_pdl(rows_list.size());
    for (const Shape& sh : shapes) {
        const size_t wcount = size_t(sh.n) * sh.k;
        const int copies = sh.layers == 1 ? 2 : kLayers;
        std::vector<bf16*> ws(copies);
        for (auto& p : ws) { CHECK_CUDA(cudaMalloc(&p, wcount * 2)); }
        for (int i = 0; i < copies; i++) { fill<<<1024, 256, 0, s>>>(ws[i], wcount, 17 + i, 0.05f); }
        bf16 *x, *y, *yref;
        CHECK_CUDA(cudaMalloc(&x, size_t(64) * sh.k * 2));
        CHECK_CUDA(cudaMalloc(&y, size_t(64) * sh.n * 2));
        CHECK_CUDA(cudaMalloc(&yref, size_t(64) * sh.n * 2));
        fill<<<256, 256, 0, s>>>(x, size_t(64) * sh.k, 99, 2.f);
        for (size_t ri = 0; ri < rows_list.size(); ri++) {
            const int rows = rows_list[ri];
            const float alpha = 1.f, beta = 0.f;
            auto blas_call = [&](int l) {
                cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, sh.n, rows, sh.k, &alpha, ws[l % copies], CUDA_R_16BF, sh.k, x, CUDA_R_16BF, sh.k,
                             &beta, yref, CUDA_R_16BF, sh.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            };
            const float t_blas = time_layers(blas_call, s);
            blas_call(0);
            std::vector<bf16> ref(size_t(rows) * sh.n), got(ref.size());
            CHECK_CUDA(cudaMemcpy(ref.data(), yref, ref.size() * 2, cudaMemcpyDeviceToHost));
            float best = 1e30f, best_pdl = 1e30f, worst_err = 0.f;
            std::string best_name, others;
            int best_splits = 1;
            for (const Variant& v : variants) {
                const int groups = (sh.n + v.warps * 16 - 1) / (v.warps * 16);
                float v_best = 1e30f;
                int v_splits = 1;
                for (int splits : split_list) {
                    if (splits > sh.k / 64 || size_t(splits) * rows * sh.n > partial_floats || (splits > 1 && groups > 65536)) { continue; }
                    if (splits > 1 && groups * splits > 8 * prop.multiProcessorCount) { continue; }
                    auto go = [&](int l) { v.fn(x, ws[l % copies], y, partial, counters, rows, sh.n, sh.k, splits, false, s); };
                    CHECK_CUDA(cudaMemset(y, 0, size_t(rows) * sh.n * 2));
                    go(0);
                    CHECK_CUDA(cudaStreamSynchronize(s));
                    CHECK_CUDA(cudaGetLastError());
                    CHECK_CUDA(cudaMemcpy(got.data(), y, got.size() * 2, cudaMemcpyDeviceToHost));
                    float err = 0.f, scale = 1e-6f;
                    for (size_t i = 0; i < ref.size(); i++) {
                        float r = __bfloat162float(ref[i]), g = __bfloat162float(got[i]);
                        err = std::max(err, std::fabs(r - g));
                        scale = std::max(scale, std::fabs(r));
                    }
                    worst_err = std::max(worst_err, err / scale);
                    const float us = time_layers(go, s);
                    if (us < v_best) { v_best = us; v_splits = splits; }
                }
                // The same call chained with programmatic dependent launch, as in the layer loop.
                const float v_pdl = time_layers([&](int l) { v.fn(x, ws[l % copies], y, partial, counters, rows, sh.n, sh.k, v_splits, true, s); }, s);
                best_pdl = std::min(best_pdl, v_pdl);
                char buf[80];
                std::snprintf(buf, sizeof buf, "%s/%d:%.1f,%.1f ", v.name, v_splits, v_best, v_pdl);
                others += buf;
                if (v_best < best) { best = v_best; best_name = v.name; best_splits = v_splits; }
            }
            const double gb = double(wcount) * 2 / 1e9;
            std::printf("| %s %dx%d | %d | %.1f | %.2f | %.1f | %.2f | %s | %d | %.1f | %.2f | %.1e | %s|\n", sh.name, sh.n, sh.k, rows, t_blas, gb / t_blas * 1e3, best,
                        gb / best * 1e3, best_name.c_str(), best_splits, best_pdl, gb / best_pdl * 1e3, worst_err, others.c_str());
            std::fflush(stdout);
            step_blas[ri] += sh.layers * t_blas;
            step_best[ri] += sh.layers * std::min(best, t_blas);
            step_pdl[ri] += sh.layers * std::min(best_pdl, t_blas);
        }
        for (auto p : ws) { cudaFree(p); }
        cudaFree(x); cudaFree(y); cudaFree(yref);
    }
    for (size_t ri = 0; ri < rows_list.size(); ri++) {
        std::printf("rows %d: a step's matmuls %.2f ms with cuBLAS, %.2f ms with the best of both, %.2f ms chained with PDL\n", rows_list[ri], step_blas[ri] / 1e3, step_best[ri] / 1e3, step_pdl[ri] / 1e3);
    }
    return 0;
}
