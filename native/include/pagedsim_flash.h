/*
 * pagedsim_flash: a C ABI around flash-attention 2's split-KV forward kernels (head dim 128, fp16/bf16,
 * causal or not), reading a KV cache that is either paged (block table) or contiguous per request.
 *
 * Every entry point returns a psf_status; on failure psf_last_error() gives a one-line message (thread-local,
 * valid until the next call on the same thread). All sizes and strides are in elements, not bytes, and the
 * last dimension (head dim) of every tensor must be contiguous.
 */
#ifndef PAGEDSIM_FLASH_H
#define PAGEDSIM_FLASH_H

#include <stdint.h>

#if defined(_WIN32)
#define PSF_API __declspec(dllexport)
#else
#define PSF_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever psf_fwd_args or an entry point changes. */
#define PSF_ABI_VERSION 2

typedef enum psf_status {
    PSF_OK = 0,
    PSF_ERR_NULL_POINTER = 1,   /* a required pointer is null */
    PSF_ERR_HEAD_DIM = 2,       /* head_dim is not 128 (the only size built) */
    PSF_ERR_DTYPE = 3,          /* dtype is not PSF_DTYPE_FP16 or PSF_DTYPE_BF16 */
    PSF_ERR_PAGE_SIZE = 4,      /* paged: page_size is not a positive multiple of 256 */
    PSF_ERR_STRIDE = 5,         /* a stride is not positive, not a multiple of 8, or a pointer not 16-byte aligned */
    PSF_ERR_SEQLEN = 6,         /* a sequence length (or max_seqlen_k) is outside [1, capacity], or < seqlen_q when causal */
    PSF_ERR_SHAPE = 7,          /* batch/heads/seqlen_q not positive, num_heads % num_heads_k != 0, cache too small */
    PSF_ERR_WORKSPACE = 8,      /* workspace missing or smaller than psf_plan says */
    PSF_ERR_BLOCK_TABLE = 9,    /* a block id / cache row (checked through block_table_host) is outside [0, cache_batch) */
    PSF_ERR_DEVICE = 10,        /* no usable CUDA device, or compute capability below 8.0 */
    PSF_ERR_CUDA = 11,          /* a CUDA call or kernel launch failed */
    PSF_ERR_SPLITS = 12,        /* num_splits outside [0, 128] */
    PSF_ERR_INTERNAL = 13
} psf_status;

typedef enum psf_dtype { PSF_DTYPE_FP16 = 0, PSF_DTYPE_BF16 = 1 } psf_dtype;

/*
 * One attention call. q and out: [batch, seqlen_q, num_heads, head_dim]; every request has seqlen_q query
 * tokens, the last seqlen_q positions of its sequence (causal masking is aligned to the end of the keys).
 *
 * Paged cache (psf_fwd_paged): k, v: [num_blocks, page_size, num_heads_k, head_dim]; block_table (device, int32):
 * [batch, >= max_blocks_per_seq] with row stride block_table_stride; request b's token t lives in block
 * block_table[b][t / page_size], row t % page_size. Capacity = max_blocks_per_seq * page_size.
 *
 * Contiguous cache (psf_fwd_contiguous): k, v: [cache_batch, cache_len, num_heads_k, head_dim]. Request b reads
 * cache row block_table[b] (int32 [batch], block_table_stride 1; like flash-attention's cache_batch_idx), or row b
 * when block_table is null. Capacity = cache_len. max_blocks_per_seq is ignored.
 *
 * seqlens_k (device, int32 [batch]): keys per request, the query tokens included. The kernel trusts them, so they
 * are checked on the host: each of seqlens_k_host[] when given (same values), else max_seqlen_k, which the caller
 * guarantees is the largest of them. With block_table_host (same values as block_table) the block ids / cache rows
 * that the lengths reach are range-checked too.
 *
 * workspace: device memory, psf_plan's workspace_bytes at least, 16-byte aligned; holds the softmax LSE and the
 * split-KV accumulators. Allocate it once per shape and reuse it: calls on one stream may share it.
 */
typedef struct psf_fwd_args {
    int32_t dtype;           /* psf_dtype */
    int32_t batch;
    int32_t seqlen_q;        /* 1 = decode */
    int32_t num_heads;
    int32_t num_heads_k;
    int32_t head_dim;        /* must be 128 */
    int32_t causal;          /* 0 or 1; ignored when seqlen_q == 1 */
    float softmax_scale;     /* usually 1/sqrt(head_dim) */

    void* q;
    int64_t q_batch_stride, q_row_stride, q_head_stride;
    void* out;
    int64_t out_batch_stride, out_row_stride, out_head_stride;

    void* k;
    int64_t k_batch_stride, k_row_stride, k_head_stride;   /* batch stride = block stride when paged */
    void* v;
    int64_t v_batch_stride, v_row_stride, v_head_stride;
    int32_t cache_batch;     /* paged: num_blocks; contiguous: requests in the cache (>= batch) */
    int32_t cache_len;       /* paged: page_size; contiguous: capacity per request */

    const int32_t* block_table;       /* device: paged block ids, or contiguous cache rows (optional) */
    const int32_t* block_table_host;  /* optional host copy; when set, ids are range-checked */
    int64_t block_table_stride;
    int32_t max_blocks_per_seq;

    const int32_t* seqlens_k;         /* device */
    const int32_t* seqlens_k_host;    /* optional host copy */
    int32_t max_seqlen_k;             /* host: max of seqlens_k; checked when seqlens_k_host is null */

    void* workspace;
    int64_t workspace_bytes;
    int32_t num_splits;      /* 0 = flash-attention's heuristic from the SM count; 1..128 forces */
    int32_t device;          /* CUDA device ordinal the pointers live on */
    void* stream;            /* cudaStream_t; null = the legacy default stream */

    /* Optional (ABI 2), device int32 [batch + 1], cumulative: queries of different lengths in one call (a ragged
     * prefill pass). Request b's queries are q/out rows cu_seqlens_q[b] .. cu_seqlens_q[b + 1] - 1 (row stride
     * q_row_stride; the batch strides are ignored), seqlen_q is the largest of those lengths, and the causal mask of
     * each request is aligned to the end of its own keys. The split count is 1 (a prefill pass fills the GPU anyway). */
    const int32_t* cu_seqlens_q;
} psf_fwd_args;

/* PSF_ABI_VERSION of the library. */
PSF_API int32_t psf_abi_version(void);

/* sizeof(psf_fwd_args), so a binding can check its mirror of the struct. */
PSF_API int32_t psf_args_size(void);

/* Message of the last failure on this thread ("" if none). */
PSF_API const char* psf_last_error(void);

/*
 * Validates the shape part of args (pointers, block table contents and lengths are not needed) for the given
 * layout (paged = 1, contiguous = 0) and reports the split count a call will use and the workspace it needs.
 * Depends only on dtype, batch, seqlen_q, heads, head_dim, capacity, num_splits and the device.
 */
PSF_API int32_t psf_plan(const psf_fwd_args* args, int32_t paged, int32_t* num_splits, int64_t* workspace_bytes);

/* Attention over a paged cache. Asynchronous on args->stream. */
PSF_API int32_t psf_fwd_paged(const psf_fwd_args* args);

/* Attention over a contiguous per-request cache. Asynchronous on args->stream. */
PSF_API int32_t psf_fwd_contiguous(const psf_fwd_args* args);

#ifdef __cplusplus
}
#endif

#endif /* PAGEDSIM_FLASH_H */
