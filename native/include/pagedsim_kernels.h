/*
 * pagedsim_kernels: the small fused kernels of a Llama decode/prefill step, so that a layer queues a handful of
 * launches instead of dozens of framework operations. Built into the same library as pagedsim_flash.
 *
 * Element types: PSK_DTYPE_FP16 or PSK_DTYPE_BF16 (psf_dtype's values). Every kernel computes in float32 and
 * rounds to the element type exactly where the plain PyTorch formulation of the same step rounds, so results
 * match it up to the order of float32 sums. Tensors are row-major and contiguous unless a stride is given; sizes
 * are in elements. Calls are asynchronous on `stream` (null = the legacy default stream) and return a psk_status;
 * on failure psk_last_error() gives a one-line message (thread-local).
 */
#ifndef PAGEDSIM_KERNELS_H
#define PAGEDSIM_KERNELS_H

#include <stdint.h>

#include "pagedsim_flash.h"

#if defined(_WIN32)
#define PSK_API __declspec(dllexport)
#else
#define PSK_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever an entry point changes. */
#define PSK_ABI_VERSION 8

typedef enum psk_status {
    PSK_OK = 0,
    PSK_ERR_NULL_POINTER = 1,  /* a required pointer is null */
    PSK_ERR_DTYPE = 2,         /* dtype is not PSK_DTYPE_FP16 or PSK_DTYPE_BF16 */
    PSK_ERR_SHAPE = 3,         /* a size is not positive, or head_dim is odd, or a stride is too small */
    PSK_ERR_CUDA = 4,          /* the launch failed */
    PSK_ERR_CUBLAS = 5,        /* libcublas is not loaded in this process (or lacks an entry point), or a GEMM failed */
    PSK_ERR_ATTENTION = 6      /* the flash-attention call failed (its message follows) */
} psk_status;

typedef enum psk_dtype { PSK_DTYPE_FP16 = 0, PSK_DTYPE_BF16 = 1 } psk_dtype;

/* PSK_ABI_VERSION of the library. */
PSK_API int32_t psk_abi_version(void);

/* Message of the last failure on this thread ("" if none). */
PSK_API const char* psk_last_error(void);

/*
 * Residual add and RMSNorm, per row of [rows, dim]:
 *   residual = residual + delta            (skipped when delta is null; rounded to the element type)
 *   out      = round(residual * rsqrt(mean(residual^2) + eps)) * weight   (each product rounded)
 * residual is updated in place; out must not alias residual or delta. dim at most 16384.
 */
PSK_API int32_t psk_add_rmsnorm(int32_t dtype, void* residual, const void* delta, const void* weight, void* out,
                                int64_t rows, int32_t dim, float eps, void* stream);

/*
 * RoPE on q and k, and the cache write of k and v, for `tokens` new tokens.
 *   qkv: [tokens, >= (heads + 2*kv_heads)*head_dim] with row stride qkv_row_stride: q heads, then k, then v.
 *   positions, slots (int64, device, [tokens]): each token's position in its sequence and its cache slot.
 *   rope (float32, device): [max_position, head_dim/2, 2] = (cos, sin) of position * theta^(-2i/head_dim)
 *        (a complex64 table's memory); the caller guarantees every position is below its length.
 *   q_out: [tokens, heads, head_dim], the rotated queries.
 *   k_cache, v_cache: [slots, kv_heads, head_dim] (a paged pool or a contiguous cache, flattened): slot s of
 *        token t receives its rotated key and its value.
 * Pairs (2i, 2i+1) of each head are rotated as complex numbers (Meta's convention), in float32.
 */
PSK_API int32_t psk_rope_kv_write(int32_t dtype, const void* qkv, int64_t qkv_row_stride, const int64_t* positions,
                                  const int64_t* slots, const float* rope, int64_t tokens, int32_t heads,
                                  int32_t kv_heads, int32_t head_dim, void* q_out, void* k_cache, void* v_cache,
                                  void* stream);

/*
 * SwiGLU's gate: gate_up [rows, 2*hidden] holds gate (w1 x) then up (w3 x) per row;
 *   out [rows, hidden] = round(silu(gate)) * up   (rounded).
 */
PSK_API int32_t psk_silu_mul(int32_t dtype, const void* gate_up, void* out, int64_t rows, int32_t hidden, void* stream);

/*
 * Greedy decoding's choice: ids [rows] (int64) = the index of each row's largest value in logits [rows, vocab], the
 * first one among equals (as torch.argmax); NaNs are skipped (a row of NaNs gives 0).
 */
PSK_API int32_t psk_argmax(int32_t dtype, const void* logits, int64_t rows, int32_t vocab, int64_t* ids, void* stream);

/* Largest row count psk_gemv takes. */
#define PSK_GEMV_MAX_ROWS 8

/*
 * The small-batch matmul of a decode step: y [rows, n_out] = x [rows, k_in] · w [n_out, k_in]^T (a linear layer
 * without bias; w in PyTorch's [out, in] layout), for 1..PSK_GEMV_MAX_ROWS rows. Reads w once, in 16-byte loads:
 * bound by memory bandwidth, which is what a decode step of a few sequences is. k_in a multiple of 8; x and w
 * 16-byte aligned; float32 accumulation, rounded once.
 */
PSK_API int32_t psk_gemv(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, void* stream);

/*
 * y [rows, n_out] = x [rows, k_in] · w [n_out, k_in]^T as the layer loop computes it: psk_gemv for one row (its
 * requirements apply); on compute capability 9.0+, where n_out is a multiple of 16 and x and w are 16-byte aligned,
 * tensor-core kernels of this library that stream w once: for 2..8 rows one that splits k across a thread-block
 * cluster (k_in a multiple of 256), for 9..64 rows on compute capability 9.0 exactly one built on TMA and wgmma
 * (k_in a multiple of 64; the library built for sm_90a); otherwise cuBLAS. float32 accumulation, rounded once;
 * deterministic for a given shape and GPU.
 */
PSK_API int32_t psk_linear(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, void* stream);

/*
 * The layer loop's qkv matmul and RoPE + cache write: qkv [tokens, (heads + 2*kv_heads)*head_dim] = x [tokens, k_in] ·
 * wqkv^T, then psk_rope_kv_write's work (its arguments, the row stride being the qkv width). Where psk_linear would
 * take wqkv to the 9..64-row wgmma kernel with one split of k, one kernel rotates and writes straight from the product
 * (qkv untouched); otherwise psk_linear into qkv, then psk_rope_kv_write. Rounded the same way either way.
 */
PSK_API int32_t psk_qkv_rope_kv_write(int32_t dtype, const void* x, const void* wqkv, void* qkv, const int64_t* positions, const int64_t* slots,
                                      const float* rope, int32_t tokens, int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t k_in,
                                      void* q_out, void* k_cache, void* v_cache, void* stream);

/*
 * act [rows, hidden] = SiLU(x · w1^T) * (x · w3^T) for w13 = [w1; w3] ([2*hidden, k_in], as the layer loop holds it),
 * as the layer loop computes it: where psk_linear would take w13 to the 9..64-row wgmma kernel in its wide shape, one
 * kernel that keeps the gate and up products in shared memory (gate_up untouched); otherwise psk_linear into gate_up
 * [rows, 2*hidden] and psk_silu_mul. Rounded the same way either way.
 */
PSK_API int32_t psk_gate_up_silu(int32_t dtype, const void* x, const void* w13, void* gate_up, void* act, int32_t rows, int32_t hidden,
                                 int32_t k_in, void* stream);

/* One transformer layer's device pointers (weights in PyTorch's [out, in] layout) and its K/V cache. */
typedef struct psk_layer {
    const void* attention_norm;  /* [dim] */
    const void* wqkv;            /* [(heads + 2*kv_heads)*head_dim, dim] */
    const void* wo;              /* [dim, heads*head_dim] */
    const void* ffn_norm;        /* [dim] */
    const void* w13;             /* [2*hidden, dim]: gate (w1) rows, then up (w3) rows */
    const void* w2;              /* [dim, hidden] */
    void* k_cache;               /* [slots, kv_heads, head_dim] */
    void* v_cache;
} psk_layer;

/*
 * Every transformer layer of a Llama forward pass, queued by one call (the per-layer sequence of the
 * psk_* kernels above, matmuls as psk_linear computes them and flash attention), then the final residual add
 * and RMSNorm. All buffers are the caller's, contiguous, in dtype; `tokens` rows each.
 *   residual: [tokens, dim]: the token embeddings in; the residual stream out (the last block's output added).
 *   normed:   [tokens, dim]: out: the final RMSNorm of the residual (the output head's input).
 *   scratch:  qkv [tokens, (heads+2*kv_heads)*head_dim], q and attn [tokens, heads*head_dim], delta [tokens, dim],
 *             gate_up [tokens, 2*hidden], act [tokens, hidden].
 *   attention: the flash call for layer 0 (q = the q buffer, out = the attn buffer, block table, lengths,
 *             workspace; checked by the caller with psf_plan); each layer replaces k and v with its own cache.
 *   paged: 1 for psf_fwd_paged, 0 for psf_fwd_contiguous.
 * cuBLAS is the libcublas the process has already loaded (PyTorch's), found with dlopen; one handle per thread.
 */
typedef struct psk_forward_args {
    int32_t dtype;
    int32_t tokens, dim, heads, kv_heads, head_dim, hidden, layers;
    float norm_eps;
    const psk_layer* layer;      /* host array [layers] */
    const void* final_norm;      /* [dim] */
    void* residual;
    void* normed;
    void* qkv;
    void* q;
    void* attn;
    void* delta;
    void* gate_up;
    void* act;
    const int64_t* positions;    /* device [tokens] */
    const int64_t* slots;        /* device [tokens] */
    const float* rope;           /* as psk_rope_kv_write */
    psf_fwd_args attention;
    int32_t paged;
    void* stream;
    /* Null: attention is flash's (attention, paged). Otherwise a decode pass (one token a sequence, tokens = its
     * batch) attends with psk_paged_decode (pagedsim_paged.h) over these arguments, q, out, k_cache, v_cache and stream
     * replaced per layer by q, attn, the layer's caches and `stream`; attention must still describe q, attn, the batch
     * and, for a graph, the lengths and block table its launches copy in. */
    const struct psk_paged_args* decode_attention;
} psk_forward_args;

/* sizeof(psk_forward_args), so a binding can check its mirror of the struct. */
PSK_API int32_t psk_forward_args_size(void);

PSK_API int32_t psk_forward_layers(const psk_forward_args* args);

/*
 * A forward pass of one shape captured as a CUDA graph: the ~450 launches of psk_forward_layers replayed by one
 * cudaGraphLaunch, without the CPU time or the gaps between kernels that queuing them costs.
 *
 * psk_graph_capture records what psk_forward_layers(args) would queue (nothing runs). The graph keeps every pointer
 * of args and every size: weights, caches, scratch, workspace, and the pass's inputs, which must therefore live in
 * buffers of the caller's that outlive the graph: args->residual, positions, slots, attention.seqlens_k and
 * attention.block_table (block table rows of attention.block_table_stride entries). The flash call runs as planned at
 * capture (its capacity and split count), so every length a later launch gives must be within that capacity; the
 * host copies of lengths and block ids are not read again. args->stream is ignored (capture uses a stream of its own).
 * The caller should run the same pass once without a graph first (CUDA loads kernels lazily).
 *
 * psk_graph_launch copies a step's inputs into those buffers, then launches the graph, all on `stream` (null = the
 * legacy default stream): the embeddings [tokens, dim] (skipped when residual is the captured buffer), positions and
 * slots [tokens], sequence lengths [batch], and a block table [batch, block_table_columns] (row stride = its
 * columns, at most the captured stride; skipped when the capture had none). The result is in args->normed.
 */
typedef struct psk_graph psk_graph;

PSK_API int32_t psk_graph_capture(const psk_forward_args* args, psk_graph** graph);

PSK_API int32_t psk_graph_launch(const psk_graph* graph, const void* residual, const int64_t* positions, const int64_t* slots,
                                 const int32_t* seqlens, const int32_t* block_table, int32_t block_table_columns, void* stream);

/* Frees the graph (null is ignored). Launches already queued still run. */
PSK_API void psk_graph_destroy(psk_graph* graph);

/*
 * CUDA events, for a host that waits for one point of a stream (a pass's ids copied to pinned memory) without
 * waiting for the work queued after it (the next pass). Created without timing.
 */
PSK_API int32_t psk_event_create(void** event);
PSK_API int32_t psk_event_record(void* event, void* stream);
PSK_API int32_t psk_event_synchronize(void* event);
PSK_API void psk_event_destroy(void* event);

#ifdef __cplusplus
}
#endif

#endif /* PAGEDSIM_KERNELS_H */
