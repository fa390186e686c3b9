// The decode matmuls of Llama-3-8B (y [rows, n] = x [rows, k] . w [n, k]^T, bf16) through the library's two
// tensor-core kernels (skinny_gemm.cuh: mma.sync, the 2-8-row one; wgmma_gemm.cuh: TMA + wgmma, the 9-64-row one),
// for the block shapes and splits of k each offers, next to cublasGemmEx; timed over 32 distinct weight matrices per
// shape (as the 32 layers are: nothing stays in L2), alone and chained with programmatic dependent launch, each
// result checked against cuBLAS's.
//
//   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o bench_skinny native/test/bench_skinny_gemm.cu -lcublas -ldl
//   ./bench_skinny [rows,rows,...]          all shapes, variants and splits (BENCH_VARIANTS=name,name: those only)
//   ./bench_skinny <rows> <shape> <variant> <splits>   one configuration (for a profiler)
#include "../src/skinny_gemm.cuh"
#include "../src/wgmma_gemm.cuh"
#include "bench_common.cuh"

#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>


using bf16 = __nv_bfloat16;

template <int MT, int WT, int CW, int KS, int STAGES, int SUB>
cudaError_t launch_mt(const bf16* x, const bf16* w, bf16* y, int rows, int n, int k, int splits, bool pdl, cudaStream_t s) {
    // Chained with PDL, consecutive calls only read w and x and write y: the weights may be loaded early.
    return psk_skinny::launch_skinny<bf16, MT, WT, CW, KS, STAGES, SUB>(0, x, w, y, rows, n, k, splits, pdl, pdl, s);  // device 0
}

// Rows in n8 tiles: 1, 2, 4, 7 or 8 of them (the row counts measured).
template <int WT, int CW, int KS, int STAGES, int SUB>
cudaError_t run(const bf16* x, const bf16* w, bf16* y, int rows, int n, int k, int splits, bool pdl, cudaStream_t s) {
    if (rows <= 8) { return launch_mt<1, WT, CW, KS, STAGES, SUB>(x, w, y, rows, n, k, splits, pdl, s); }
    if (rows <= 16) { return launch_mt<2, WT, CW, KS, STAGES, SUB>(x, w, y, rows, n, k, splits, pdl, s); }
    if (rows <= 32) { return launch_mt<4, WT, CW, KS, STAGES, SUB>(x, w, y, rows, n, k, splits, pdl, s); }
    if (rows <= 56) { return launch_mt<7, WT, CW, KS, STAGES, SUB>(x, w, y, rows, n, k, splits, pdl, s); }
    return launch_mt<8, WT, CW, KS, STAGES, SUB>(x, w, y, rows, n, k, splits, pdl, s);
}

// The wgmma kernel, TILES m64 tiles of columns a block: rows in n8 tiles of 2, 4, 7 or 8.
template <int TILES, int STAGES, int SUB>
cudaError_t run_wgmma(const bf16* x, const bf16* w, bf16* y, int rows, int n, int k, int splits, bool pdl, cudaStream_t s) {
    if (rows <= 16) { return psk_wgmma::launch_wgmma<bf16, 2, TILES, STAGES, SUB>(0, x, w, y, rows, n, k, splits, pdl, pdl, s); }
    if (rows <= 32) { return psk_wgmma::launch_wgmma<bf16, 4, TILES, STAGES, SUB>(0, x, w, y, rows, n, k, splits, pdl, pdl, s); }
    if (rows <= 56) { return psk_wgmma::launch_wgmma<bf16, 7, TILES, STAGES, SUB>(0, x, w, y, rows, n, k, splits, pdl, pdl, s); }
    return psk_wgmma::launch_wgmma<bf16, 8, TILES, STAGES, SUB>(0, x, w, y, rows, n, k, splits, pdl, pdl, s);
}

typedef cudaError_t (*RunFn)(const bf16*, const bf16*, bf16*, int, int, int, int, bool, cudaStream_t);

int main(int argc, char** argv) {
    std::vector<int> rows_list = {1, 2, 8, 16, 32, 49, 64};
    if (argc == 2) {
        rows_list.clear();
        for (char* p = std::strtok(argv[1], ","); p; p = std::strtok(nullptr, ",")) { rows_list.push_back(std::atoi(p)); }
    }
    struct Shape { const char* name; int n, k, layers; } shapes[] = {
        {"wqkv", 6144, 4096, 32}, {"wo", 4096, 4096, 32}, {"w13", 28672, 4096, 32}, {"w2", 4096, 14336, 32}, {"output", 128256, 4096, 1}};
    // mma.sync: column tiles of 16 per warp x column warps x k slices / stages x chunks of 64 per stage;
    // wgmma ("wg"): m64 tiles of columns per block / stages x chunks of 64 per stage. The library runs 1x8x1/3x2 for
    // 2-8 rows, wg1/8x1 and (for wide matrices) wg2/4x1 for 9-64.
    struct Variant { const char* name; RunFn fn; int columns; } variants[] = {
        {"1x8x1/3x2", run<1, 8, 1, 3, 2>, 128}, {"2x4x2/3x2", run<2, 4, 2, 3, 2>, 128}, {"4x2x4/3x2", run<4, 2, 4, 3, 2>, 128},
        {"2x2x4/3x2", run<2, 2, 4, 3, 2>, 64}, {"4x1x4/3x2", run<4, 1, 4, 3, 2>, 64}, {"2x4x2/4x1", run<2, 4, 2, 4, 1>, 128},
        {"4x2x2/3x2", run<4, 2, 2, 3, 2>, 128}, {"wg2/4x1", run_wgmma<2, 4, 1>, 128}, {"wg2/6x1", run_wgmma<2, 6, 1>, 128},
        {"wg2/8x1", run_wgmma<2, 8, 1>, 128}, {"wg4/5x1", run_wgmma<4, 5, 1>, 256}, {"wg4/4x1", run_wgmma<4, 4, 1>, 256}, {"wg1/8x1", run_wgmma<1, 8, 1>, 64},
        {"wg1/4x1", run_wgmma<1, 4, 1>, 64}};
    const int split_list[] = {1, 2, 3, 4, 5, 6, 8};
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    if (argc > 2) {
        // One configuration, for a profiler: bench_skinny <rows> <shape> <variant> <splits>
        const int rows = std::atoi(argv[1]), splits = argc > 4 ? std::atoi(argv[4]) : 1;
        const Shape* sh = nullptr;
        for (const Shape& c : shapes) { if (std::strcmp(c.name, argv[2]) == 0) { sh = &c; } }
        const Variant* v = nullptr;
        for (const Variant& c : variants) { if (argc > 3 && std::strcmp(c.name, argv[3]) == 0) { v = &c; } }
        if (sh == nullptr || v == nullptr) { std::printf("unknown shape or variant\n"); return 1; }
        bf16 *w, *x, *y;
        CHECK_CUDA(cudaMalloc(&w, size_t(sh->n) * sh->k * 2));
        CHECK_CUDA(cudaMalloc(&x, size_t(64) * sh->k * 2));
        CHECK_CUDA(cudaMalloc(&y, size_t(64) * sh->n * 2));
        for (int i = 0; i < 5; i++) { CHECK_CUDA(v->fn(x, w, y, rows, sh->n, sh->k, splits, false, 0)); }
        CHECK_CUDA(cudaDeviceSynchronize());
        std::printf("ran %s %d rows %s splits %d\n", sh->name, rows, v->name, splits);
        return 0;
    }
    std::printf("GPU: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    cublasHandle_t blas;
    cublasCreate(&blas);
    cublasSetStream(blas, s);
    void* blas_ws;
    CHECK_CUDA(cudaMalloc(&blas_ws, 32 << 20));
    cublasSetWorkspace(blas, blas_ws, 32 << 20);
    std::printf("| matmul | rows | cuBLAS us | TB/s | best us | TB/s | best variant | splits | chained PDL us | TB/s | max rel err | variant/splits:us,PDL us |\n");
    std::vector<double> step_blas(rows_list.size()), step_best(rows_list.size()), step_pdl(rows_list.size());
    for (const Shape& sh : shapes) {
        const size_t wcount = size_t(sh.n) * sh.k;
        const int copies = sh.layers == 1 ? 2 : kLayers;
        std::vector<bf16*> ws(copies);
        for (auto& p : ws) { CHECK_CUDA(cudaMalloc(&p, wcount * 2)); }
        for (int i = 0; i < copies; i++) { fill_bf16<<<1024, 256, 0, s>>>(ws[i], wcount, 17 + i, 0.05f); }
        bf16 *x, *y, *yref;
        CHECK_CUDA(cudaMalloc(&x, size_t(64) * sh.k * 2));
        CHECK_CUDA(cudaMalloc(&y, size_t(64) * sh.n * 2));
        CHECK_CUDA(cudaMalloc(&yref, size_t(64) * sh.n * 2));
        fill_bf16<<<256, 256, 0, s>>>(x, size_t(64) * sh.k, 99, 2.f);
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
            const char* only = std::getenv("BENCH_VARIANTS");  // e.g. "wg8x1,1x8x1/3x2": those only
            for (const Variant& v : variants) {
                if (only != nullptr && std::strstr(only, v.name) == nullptr) { continue; }
                const int groups = (sh.n + v.columns - 1) / v.columns;
                float v_best = 1e30f;
                int v_splits = 1;
                for (int splits : split_list) {
                    if (splits > sh.k / 128) { continue; }
                    if (splits > 1 && groups * splits > 8 * prop.multiProcessorCount) { continue; }
                    auto go = [&](int l) { v.fn(x, ws[l % copies], y, rows, sh.n, sh.k, splits, false, s); };
                    CHECK_CUDA(cudaMemset(y, 0, size_t(rows) * sh.n * 2));
                    if (v.fn(x, ws[0], y, rows, sh.n, sh.k, splits, false, s) != cudaSuccess) { cudaGetLastError(); continue; }  // does not fit
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
                    if (std::getenv("BENCH_EVERY_SPLIT") != nullptr) {  // each split, alone and chained with PDL
                        const float pdl = time_layers([&](int l) { v.fn(x, ws[l % copies], y, rows, sh.n, sh.k, splits, true, s); }, s);
                        std::printf("  %s %d rows %s splits %d: %.1f us, chained %.1f us\n", sh.name, rows, v.name, splits, us, pdl);
                    }
                }
                if (v_best > 1e29f) { continue; }
                // The same call chained with programmatic dependent launch, as in the layer loop.
                const float v_pdl = time_layers([&](int l) { v.fn(x, ws[l % copies], y, rows, sh.n, sh.k, v_splits, true, s); }, s);
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
