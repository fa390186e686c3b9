// The one-row matmul of a decode step (psk_gemv): one warp an output column, weights streamed once.

#include "common.cuh"

#include "matmul.cuh"

namespace {

using namespace psk_detail;

// y[m, n] = sum_k x[m, k] * w[n, k] for a few rows m (decode): one warp per output column n streams row n of w
// once in 16-byte loads and keeps every x row's partial sum, so the weights are read once at full bandwidth.
template <typename T, int M>
__global__ void gemv_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int n_out, int k_in, bool early_weights) {
    allow_next_launch();
    if (!early_weights) { wait_for_previous(); }  // the previous kernel may have written w
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int n = blockIdx.x * (blockDim.x / 32) + warp;
    const bool active = n < n_out;
    const uint4* wrow = reinterpret_cast<const uint4*>(w + size_t(active ? n : 0) * k_in);
    const int vectors = k_in / 8;  // 8 elements per 16 bytes
    constexpr int kUnroll = 4, kStep = 32 * kUnroll;
    // With early_weights the caller knows the previous kernel did not write w (the layer loop): the first loads go out
    // before waiting for it. Each iteration loads the next one's weights before computing its own.
    uint4 wv[kUnroll];
    int v = lane;
    if (active && v + 32 * (kUnroll - 1) < vectors) {
#pragma unroll
        for (int u = 0; u < kUnroll; u++) { wv[u] = __ldg(wrow + v + 32 * u); }
    }
    if (early_weights) { wait_for_previous(); }
    if (!active) { return; }
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; m++) { acc[m] = 0.f; }
    for (; v + 32 * (kUnroll - 1) < vectors; v += kStep) {
        uint4 current[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) { current[u] = wv[u]; }
        if (v + kStep + 32 * (kUnroll - 1) < vectors) {
#pragma unroll
            for (int u = 0; u < kUnroll; u++) { wv[u] = __ldg(wrow + v + kStep + 32 * u); }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const T* we = reinterpret_cast<const T*>(&current[u]);
#pragma unroll
            for (int m = 0; m < M; m++) {
                uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + size_t(m) * k_in) + v + 32 * u);
                const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
                for (int e = 0; e < 8; e++) { acc[m] += to_float(we[e]) * to_float(xe[e]); }
            }
        }
    }
    for (; v < vectors; v += 32) {
        uint4 wt = __ldg(wrow + v);
        const T* we = reinterpret_cast<const T*>(&wt);
#pragma unroll
        for (int m = 0; m < M; m++) {
            uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + size_t(m) * k_in) + v);
            const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
            for (int e = 0; e < 8; e++) { acc[m] += to_float(we[e]) * to_float(xe[e]); }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        float sum = acc[m];
        for (int offset = 16; offset > 0; offset >>= 1) { sum += __shfl_xor_sync(0xffffffffu, sum, offset); }
        if (lane == 0) { y[size_t(m) * n_out + n] = from_float<T>(sum); }
    }
}

template <typename T>
cudaError_t launch_gemv(const T* x, const T* w, T* y, int rows, int n_out, int k_in, bool early_weights, cudaStream_t s) {
    constexpr int kWarps = 8;
    dim3 grid{static_cast<unsigned>((n_out + kWarps - 1) / kWarps)}, block{32 * kWarps};
    switch (rows) {
        case 1: return launch(gemv_kernel<T, 1>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 2: return launch(gemv_kernel<T, 2>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 3: return launch(gemv_kernel<T, 3>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 4: return launch(gemv_kernel<T, 4>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 5: return launch(gemv_kernel<T, 5>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 6: return launch(gemv_kernel<T, 6>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 7: return launch(gemv_kernel<T, 7>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        default: return launch(gemv_kernel<T, 8>, grid, block, s, x, w, y, n_out, k_in, early_weights);
    }
}

}  // namespace

namespace psk_detail {

// psk_gemv, with early_weights as gemv_kernel takes it.
int32_t gemv(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, bool early_weights, cudaStream_t s) {
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (x == nullptr || w == nullptr || y == nullptr) { return fail(PSK_ERR_NULL_POINTER, "gemv: x, w or y is null"); }
    if (rows < 1 || rows > PSK_GEMV_MAX_ROWS || n_out <= 0 || k_in <= 0 || k_in % 8 != 0 ||
        (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16 != 0) {
        return fail(PSK_ERR_SHAPE, "gemv: rows %d (1..%d), n_out %d, k_in %d (a multiple of 8), x and w 16-byte aligned",
                    rows, PSK_GEMV_MAX_ROWS, n_out, k_in);
    }
    cudaError_t e = dtype == PSK_DTYPE_BF16
        ? launch_gemv(static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w), static_cast<__nv_bfloat16*>(y), rows, n_out, k_in, early_weights, s)
        : launch_gemv(static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<__half*>(y), rows, n_out, k_in, early_weights, s);
    return launched("gemv", e);
}

}  // namespace psk_detail

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_gemv(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, void* stream) {
    clear_error();
    return gemv(dtype, x, w, y, rows, n_out, k_in, false, static_cast<cudaStream_t>(stream));
}

}  // extern "C"
