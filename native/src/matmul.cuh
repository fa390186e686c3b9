// The matmul dispatch of the layer loop (matmul.cu, gemv.cu), shared with the loop itself (layer_loop.cu).
#pragma once

#include "common.cuh"

namespace psk_detail {

// This thread's cuBLAS handle for `device` (the current one), bound to stream s and to a workspace of our own: cuBLAS would
// otherwise allocate a workspace inside every captured graph.
int32_t cublas_handle(int device, cudaStream_t s, void** handle);

// y [rows, n_out] = x [rows, k_in] . w [n_out, k_in]^T, as torch.nn.functional.linear: one row runs psk_gemv, 2..8
// rows the skinny kernel and 9..64 the wgmma kernel where they apply (none needs the handle), others cuBLAS:
// column-major, it sees
// y^T = w . x^T, i.e. op(A) = w^T of the [k_in, n_out] column-major view of w.
// early_weights: no kernel before it in the stream writes w (the layer loop), so the first weight loads may go out
// before waiting for that kernel. handle: this thread's cuBLAS handle for s, or null to get it if cuBLAS is needed.
// device: the current device (looked up once by each entry point).
int32_t linear(void* handle, int device, int32_t dtype, const void* x, const void* w, void* y, int rows, int n_out, int k_in, bool early_weights,
               cudaStream_t s);

// q_out, k_cache, v_cache from the qkv matmul with RoPE and the cache write (psk_rope_kv_write's arguments): one
// wgmma kernel where wgmma_rope_applies, else linear into qkv [tokens, (heads + 2 kv_heads) head_dim] and
// psk_rope_kv_write (the same values either way).
int32_t qkv_rope(void* handle, int device, int32_t dtype, const void* x, const void* wqkv, void* qkv, const int64_t* positions,
                 const int64_t* slots, const float* rope, int tokens, int heads, int kv_heads, int head_dim, int k_in, void* q_out, void* k_cache,
                 void* v_cache, bool early_weights, cudaStream_t s);

// act [rows, hidden] = SiLU(x . w1^T) * (x . w3^T) for w13 = [w1; w3]: one wgmma kernel where wgmma_gated_applies,
// else linear into gate_up [rows, 2 * hidden] and psk_silu_mul (the same values either way).
int32_t gate_up_silu(void* handle, int device, int32_t dtype, const void* x, const void* w13, void* gate_up, void* act, int rows, int hidden,
                     int k_in, bool early_weights, cudaStream_t s);

// psk_gemv, with early_weights as gemv_kernel takes it.
int32_t gemv(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, bool early_weights, cudaStream_t s);

}  // namespace psk_detail
