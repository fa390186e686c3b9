// SwiGLU's gate (psk_silu_mul): out = round(silu(gate)) * up, a grid-stride loop.

#include "common.cuh"

namespace {

using namespace psk_detail;

template <typename T>
__global__ void silu_mul_kernel(const T* gate_up, T* out, int64_t rows, int hidden) {
    allow_next_launch();
    wait_for_previous();
    const int64_t total = rows * hidden;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        int64_t r = i / hidden, j = i % hidden;
        float g = to_float(gate_up[r * 2 * hidden + j]);
        float u = to_float(gate_up[r * 2 * hidden + hidden + j]);
        T silu = from_float<T>(g / (1.f + __expf(-g)));
        out[i] = from_float<T>(to_float(silu) * u);
    }
}

}  // namespace

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_silu_mul(int32_t dtype, const void* gate_up, void* out, int64_t rows, int32_t hidden, void* stream) {
    clear_error();
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (gate_up == nullptr || out == nullptr) { return fail(PSK_ERR_NULL_POINTER, "silu_mul: gate_up or out is null"); }
    if (rows <= 0 || hidden <= 0) { return fail(PSK_ERR_SHAPE, "silu_mul: rows %lld, hidden %d", (long long)rows, hidden); }
    int64_t total = rows * hidden;
    int64_t blocks = (total + 255) / 256;
    dim3 grid{static_cast<unsigned>(blocks > 65535 * 8 ? 65535 * 8 : blocks)}, block{256};
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    cudaError_t e = dtype == PSK_DTYPE_BF16
        ? launch(silu_mul_kernel<__nv_bfloat16>, grid, block, s, static_cast<const __nv_bfloat16*>(gate_up), static_cast<__nv_bfloat16*>(out), rows, hidden)
        : launch(silu_mul_kernel<__half>, grid, block, s, static_cast<const __half*>(gate_up), static_cast<__half*>(out), rows, hidden);
    return launched("silu_mul", e);
}

}  // extern "C"
