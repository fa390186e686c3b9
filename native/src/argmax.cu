// Greedy decoding's choice (psk_argmax): one block a row of logits.

#include "common.cuh"

namespace {

using namespace psk_detail;

// ids[r] = the first index of row r's largest logit (NaNs skipped): one block a row, 8 elements a load.
template <typename T>
__global__ void argmax_kernel(const T* logits, int vocab, int64_t* ids) {
    allow_next_launch();
    wait_for_previous();
    const T* row = logits + size_t(blockIdx.x) * vocab;
    float best = -INFINITY;
    int best_index = vocab;  // past the end: "none yet" (every real index is smaller)
    auto consider = [&](float v, int i) {
        if (v > best || (v == best && i < best_index)) { best = v; best_index = i; }
    };
    const bool vectors = vocab % 8 == 0 && reinterpret_cast<uintptr_t>(row) % 16 == 0;
    if (vectors) {
        for (int c = threadIdx.x; c < vocab / 8; c += blockDim.x) {
            const uint4 chunk = reinterpret_cast<const uint4*>(row)[c];
            const T* e = reinterpret_cast<const T*>(&chunk);
#pragma unroll
            for (int j = 0; j < 8; j++) { consider(to_float(e[j]), 8 * c + j); }
        }
    } else {
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) { consider(to_float(row[i]), i); }
    }
    // The block's largest, the smallest index among equals: across each warp, then across the warps' results.
    auto across_warp = [&] {
        for (int offset = 16; offset > 0; offset >>= 1) {
            const float v = __shfl_xor_sync(0xffffffffu, best, offset);
            const int i = __shfl_xor_sync(0xffffffffu, best_index, offset);
            consider(v, i);
        }
    };
    __shared__ float values[32];
    __shared__ int indices[32];
    across_warp();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) { values[warp] = best; indices[warp] = best_index; }
    __syncthreads();
    if (warp == 0) {
        best = lane < int(blockDim.x / 32) ? values[lane] : -INFINITY;
        best_index = lane < int(blockDim.x / 32) ? indices[lane] : vocab;
        across_warp();
        if (lane == 0) { ids[blockIdx.x] = best_index < vocab ? best_index : 0; }  // a row of NaNs: 0
    }
}

}  // namespace

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_argmax(int32_t dtype, const void* logits, int64_t rows, int32_t vocab, int64_t* ids, void* stream) {
    clear_error();
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (logits == nullptr || ids == nullptr) { return fail(PSK_ERR_NULL_POINTER, "argmax: logits or ids is null"); }
    if (rows <= 0 || rows > 0x7fffffff || vocab <= 0) { return fail(PSK_ERR_SHAPE, "argmax: rows %lld, vocab %d", (long long)rows, vocab); }
    dim3 grid{static_cast<unsigned>(rows)}, block{1024};
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    cudaError_t e = dtype == PSK_DTYPE_BF16
        ? launch(argmax_kernel<__nv_bfloat16>, grid, block, s, static_cast<const __nv_bfloat16*>(logits), vocab, ids)
        : launch(argmax_kernel<__half>, grid, block, s, static_cast<const __half*>(logits), vocab, ids);
    return launched("argmax", e);
}

}  // extern "C"
