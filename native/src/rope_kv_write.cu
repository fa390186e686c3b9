// RoPE on q and k, and the K/V cache write (psk_rope_kv_write): one block a token.

#include "common.cuh"

namespace {

using namespace psk_detail;

constexpr int kRopePairs = 4;  // pairs of a token's q and k a thread rotates with rotations read before the wait

template <typename T>
__global__ void rope_kv_write_kernel(const T* qkv, int64_t qkv_row_stride, const int64_t* positions,
                                     const int64_t* slots, const float2* rope, int heads, int kv_heads, int head_dim,
                                     T* q_out, T* k_cache, T* v_cache) {
    allow_next_launch();
    // Positions, slots and the rotation table were written before the step's first kernel: read while the previous
    // kernel finishes.
    const int64_t t = blockIdx.x;
    const int half = head_dim / 2, pairs = (heads + kv_heads) * half;
    const float2* rotation = rope + positions[t] * half;
    const int64_t slot_offset = slots[t] * kv_heads * head_dim;
    float2 r[kRopePairs];
#pragma unroll
    for (int j = 0; j < kRopePairs; j++) {
        const int p = threadIdx.x + j * blockDim.x;
        r[j] = p < pairs ? rotation[p % half] : make_float2(0.f, 0.f);
    }
    wait_for_previous();
    const T* row = qkv + t * qkv_row_stride;
    // q heads then k heads: consecutive in the qkv row, so one loop rotates both.
    auto rotate = [&](int p, float2 rot) {
        const int head = p / half, i = p % half;
        const T* src = row + head * head_dim + 2 * i;
        const float x0 = to_float(src[0]), x1 = to_float(src[1]);
        T* dst = head < heads ? q_out + (t * heads + head) * head_dim + 2 * i
                              : k_cache + slot_offset + (head - heads) * head_dim + 2 * i;
        dst[0] = from_float<T>(x0 * rot.x - x1 * rot.y);
        dst[1] = from_float<T>(x0 * rot.y + x1 * rot.x);
    };
#pragma unroll
    for (int j = 0; j < kRopePairs; j++) {
        const int p = threadIdx.x + j * blockDim.x;
        if (p < pairs) { rotate(p, r[j]); }
    }
    for (int p = threadIdx.x + kRopePairs * blockDim.x; p < pairs; p += blockDim.x) { rotate(p, rotation[p % half]); }
    const T* v = row + (heads + kv_heads) * head_dim;
    for (int e = threadIdx.x; e < kv_heads * head_dim; e += blockDim.x) { v_cache[slot_offset + e] = v[e]; }
}

}  // namespace

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_rope_kv_write(int32_t dtype, const void* qkv, int64_t qkv_row_stride, const int64_t* positions,
                                  const int64_t* slots, const float* rope, int64_t tokens, int32_t heads,
                                  int32_t kv_heads, int32_t head_dim, void* q_out, void* k_cache, void* v_cache,
                                  void* stream) {
    clear_error();
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (qkv == nullptr || positions == nullptr || slots == nullptr || rope == nullptr || q_out == nullptr ||
        k_cache == nullptr || v_cache == nullptr) {
        return fail(PSK_ERR_NULL_POINTER, "rope_kv_write: a pointer is null");
    }
    if (tokens <= 0 || tokens > 0x7fffffff || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 ||
        qkv_row_stride < int64_t(heads + 2 * kv_heads) * head_dim) {
        return fail(PSK_ERR_SHAPE, "rope_kv_write: tokens %lld, heads %d, kv_heads %d, head_dim %d, row stride %lld",
                    (long long)tokens, heads, kv_heads, head_dim, (long long)qkv_row_stride);
    }
    dim3 grid{static_cast<unsigned>(tokens)}, block{static_cast<unsigned>(block_threads(int64_t(heads + kv_heads) * head_dim / 2))};
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const float2* table = reinterpret_cast<const float2*>(rope);
    cudaError_t e;
    if (dtype == PSK_DTYPE_BF16) {
        e = launch(rope_kv_write_kernel<__nv_bfloat16>, grid, block, s, static_cast<const __nv_bfloat16*>(qkv), qkv_row_stride, positions, slots,
                   table, heads, kv_heads, head_dim, static_cast<__nv_bfloat16*>(q_out), static_cast<__nv_bfloat16*>(k_cache),
                   static_cast<__nv_bfloat16*>(v_cache));
    } else {
        e = launch(rope_kv_write_kernel<__half>, grid, block, s, static_cast<const __half*>(qkv), qkv_row_stride, positions, slots,
                   table, heads, kv_heads, head_dim, static_cast<__half*>(q_out), static_cast<__half*>(k_cache), static_cast<__half*>(v_cache));
    }
    return launched("rope_kv_write", e);
}

}  // extern "C"
