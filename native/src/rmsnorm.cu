// Residual add and RMSNorm (psk_add_rmsnorm): one block a row, the row in registers.

#include "common.cuh"

namespace {

using namespace psk_detail;


// Sum over the block; every thread gets the total. blockDim.x is a multiple of 32, at most 1024.
__device__ float block_sum(float value) {
    __shared__ float partial[32];
    for (int offset = 16; offset > 0; offset >>= 1) { value += __shfl_xor_sync(0xffffffffu, value, offset); }
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) { partial[warp] = value; }
    __syncthreads();
    int warps = blockDim.x / 32;
    value = lane < warps ? partial[lane] : 0.f;
    for (int offset = 16; offset > 0; offset >>= 1) { value += __shfl_xor_sync(0xffffffffu, value, offset); }
    return value;
}

// A row of add_rmsnorm_kernel is held in registers, ELEMENTS a thread (rows up to ELEMENTS x 1024 wide).
template <typename T, int ELEMENTS>
__global__ void add_rmsnorm_kernel(T* residual, const T* delta, const T* weight, T* out, int dim, float eps) {
    allow_next_launch();
    // The norm's weights do not depend on the previous kernel: read while it finishes.
    float w[ELEMENTS];
#pragma unroll
    for (int j = 0; j < ELEMENTS; j++) {
        const int i = threadIdx.x + j * blockDim.x;
        w[j] = i < dim ? to_float(weight[i]) : 0.f;
    }
    wait_for_previous();
    T* x = residual + size_t(blockIdx.x) * dim;
    T* o = out + size_t(blockIdx.x) * dim;
    const T* d = delta == nullptr ? nullptr : delta + size_t(blockIdx.x) * dim;
    float v[ELEMENTS];
    float squares = 0.f;
#pragma unroll
    for (int j = 0; j < ELEMENTS; j++) {
        const int i = threadIdx.x + j * blockDim.x;
        v[j] = 0.f;
        if (i < dim) {
            T e = x[i];
            if (d != nullptr) {
                e = from_float<T>(to_float(e) + to_float(d[i]));  // `x = x + delta` in the element type
                x[i] = e;
            }
            v[j] = to_float(e);
            squares += v[j] * v[j];
        }
    }
    const float scale = rsqrtf(block_sum(squares) / float(dim) + eps);
#pragma unroll
    for (int j = 0; j < ELEMENTS; j++) {
        const int i = threadIdx.x + j * blockDim.x;
        if (i < dim) {
            const T normed = from_float<T>(v[j] * scale);  // normalised in float32, then back to the element type
            o[i] = from_float<T>(to_float(normed) * w[j]);
        }
    }
}

}  // namespace

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_add_rmsnorm(int32_t dtype, void* residual, const void* delta, const void* weight, void* out,
                                int64_t rows, int32_t dim, float eps, void* stream) {
    clear_error();
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (residual == nullptr || weight == nullptr || out == nullptr) { return fail(PSK_ERR_NULL_POINTER, "add_rmsnorm: residual, weight or out is null"); }
    if (rows <= 0 || dim <= 0 || rows > 0x7fffffff || dim > 16 * 1024) {
        return fail(PSK_ERR_SHAPE, "add_rmsnorm: rows %lld, dim %d (at most 16384)", (long long)rows, dim);
    }
    const int threads = block_threads(dim / 4);
    dim3 grid{static_cast<unsigned>(rows)}, block{static_cast<unsigned>(threads)};
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    using B = __nv_bfloat16;
    using H = __half;
    const bool wide = dim > 8 * threads;  // more than 8 elements a thread
    cudaError_t e;
    if (dtype == PSK_DTYPE_BF16) {
        B* r = static_cast<B*>(residual);
        const B *d = static_cast<const B*>(delta), *w = static_cast<const B*>(weight);
        e = wide ? launch(add_rmsnorm_kernel<B, 16>, grid, block, s, r, d, w, static_cast<B*>(out), dim, eps)
                 : launch(add_rmsnorm_kernel<B, 8>, grid, block, s, r, d, w, static_cast<B*>(out), dim, eps);
    } else {
        H* r = static_cast<H*>(residual);
        const H *d = static_cast<const H*>(delta), *w = static_cast<const H*>(weight);
        e = wide ? launch(add_rmsnorm_kernel<H, 16>, grid, block, s, r, d, w, static_cast<H*>(out), dim, eps)
                 : launch(add_rmsnorm_kernel<H, 8>, grid, block, s, r, d, w, static_cast<H*>(out), dim, eps);
    }
    return launched("add_rmsnorm", e);
}

}  // extern "C"
