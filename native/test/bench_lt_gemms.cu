// Decode-step matmuls of Llama-3-8B (y [rows, n] = x [rows, k] . w [n, k]^T, bf16) through cublasGemmEx and through
// every algorithm cublasLt's heuristic offers, timed over 32 distinct weight matrices per shape (as the 32 layers
// are: nothing stays in L2). Shows how far cuBLAS's default choice is from the best it has at small row counts.
//
//   nvcc -O2 -std=c++17 -o bench_lt_gemms native/test/bench_lt_gemms.cu -lcublasLt -lcublas && ./bench_lt_gemms
#include "bench_common.cuh"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK_BLAS(x) do { int s_ = int(x); if (s_ != 0) { std::printf("%s: status %d\n", #x, s_); std::exit(1); } } while (0)

constexpr size_t kWorkspace = size_t(32) << 20;

int main() {
    struct Shape { const char* name; int n, k; } shapes[] = {{"wqkv", 6144, 4096}, {"wo", 4096, 4096}, {"w13", 28672, 4096}, {"w2", 4096, 14336}};
    int rows_list[] = {2, 4, 8, 16, 32, 49, 64, 128};
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::printf("GPU: %s\n", prop.name);
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    cublasHandle_t blas;
    CHECK_BLAS(cublasCreate(&blas));
    CHECK_BLAS(cublasSetStream(blas, s));
    cublasLtHandle_t lt;
    CHECK_BLAS(cublasLtCreate(&lt));
    void* workspace;
    CHECK_CUDA(cudaMalloc(&workspace, kWorkspace));
    CHECK_BLAS(cublasSetWorkspace(blas, workspace, kWorkspace));
    std::printf("| matmul | rows | GemmEx us | TB/s | Lt #0 us | Lt best us | TB/s | best of | best algo (tile, stages, splitK) |\n");
    std::vector<double> step_default(sizeof rows_list / sizeof rows_list[0]), step_best(step_default.size());
    for (const Shape& sh : shapes) {
        std::vector<__nv_bfloat16*> w(kLayers);
        for (auto& p : w) {
            CHECK_CUDA(cudaMalloc(&p, size_t(sh.n) * sh.k * 2));
            CHECK_CUDA(cudaMemset(p, 0x3c, size_t(sh.n) * sh.k * 2));
        }
        __nv_bfloat16 *x, *y;
        CHECK_CUDA(cudaMalloc(&x, size_t(128) * sh.k * 2));
        CHECK_CUDA(cudaMemset(x, 0x3c, size_t(128) * sh.k * 2));
        CHECK_CUDA(cudaMalloc(&y, size_t(128) * sh.n * 2));
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
            const int rows = rows_list[ri];
            const float alpha = 1.f, beta = 0.f;
            float t_ex = time_layers([&](int l) {
                cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, sh.n, rows, sh.k, &alpha, w[l], CUDA_R_16BF, sh.k, x, CUDA_R_16BF, sh.k, &beta,
                             y, CUDA_R_16BF, sh.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            }, s);

            cublasLtMatmulDesc_t desc;
            CHECK_BLAS(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
            cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
            CHECK_BLAS(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof op_t));
            CHECK_BLAS(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof op_n));
            cublasLtMatrixLayout_t la, lb, lc;
            CHECK_BLAS(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, sh.k, sh.n, sh.k));
            CHECK_BLAS(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, sh.k, rows, sh.k));
            CHECK_BLAS(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, sh.n, rows, sh.n));
            cublasLtMatmulPreference_t pref;
            CHECK_BLAS(cublasLtMatmulPreferenceCreate(&pref));
            uint64_t ws = kWorkspace;
            CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
            cublasLtMatmulHeuristicResult_t results[32];
            int found = 0;
            CHECK_BLAS(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 32, results, &found));
            float t0 = 0, best = 1e30f;
            int best_i = -1;
            for (int i = 0; i < found; i++) {
                if (results[i].state != CUBLAS_STATUS_SUCCESS) { continue; }
                bool failed = false;
                float t = time_layers([&](int l) {
                    if (cublasLtMatmul(lt, desc, &alpha, w[l], la, x, lb, &beta, y, lc, y, lc, &results[i].algo, workspace, kWorkspace, s) != 0) { failed = true; }
                }, s);
                if (failed) { continue; }
                if (i == 0) { t0 = t; }
                if (t < best) { best = t; best_i = i; }
            }
            int tile = -1, stages = -1, split = -1;
            if (best_i >= 0) {
                size_t written;
                cublasLtMatmulAlgoConfigGetAttribute(&results[best_i].algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, &written);
                cublasLtMatmulAlgoConfigGetAttribute(&results[best_i].algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, &written);
                cublasLtMatmulAlgoConfigGetAttribute(&results[best_i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split, sizeof split, &written);
            }
            const double gb = double(sh.n) * sh.k * 2 / 1e9;
            std::printf("| %s | %d | %.1f | %.2f | %.1f | %.1f | %.2f | %d | #%d (%d, %d, %d) |\n", sh.name, rows, t_ex, gb / t_ex * 1e3, t0, best,
                        gb / best * 1e3, found, best_i, tile, stages, split);
            step_default[ri] += t_ex * kLayers;
            step_best[ri] += std::min(best, t_ex) * kLayers;
            cublasLtMatmulPreferenceDestroy(pref);
            cublasLtMatrixLayoutDestroy(la);
            cublasLtMatrixLayoutDestroy(lb);
            cublasLtMatrixLayoutDestroy(lc);
            cublasLtMatmulDescDestroy(desc);
        }
        for (auto* p : w) { cudaFree(p); }
        cudaFree(x);
        cudaFree(y);
    }
    for (size_t ri = 0; ri < step_default.size(); ri++) {
        std::printf("rows %d: layer matmuls per step %.2f ms with GemmEx, %.2f ms with the best Lt algorithm\n", rows_list[ri],
                    step_default[ri] / 1e3, step_best[ri] / 1e3);
    }
    return 0;
}
