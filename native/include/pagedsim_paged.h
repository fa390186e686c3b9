/*
 * pagedsim_paged: a paged decode-attention kernel of the library's own, for any block size (16, 32, ..., 256, or any
 * other), head dim 128, fp16/bf16. Built into the same library as pagedsim_flash and pagedsim_kernels; errors are
 * pagedsim_kernels.h's psk_status codes, the message in psk_last_error().
 *
 * One query token per sequence (a decode step): out[b, h] = softmax(q[b, h] . K[b, h/G]^T * scale) . V[b, h/G] over the
 * sequence's first seqlens[b] cached tokens, G = heads / kv_heads query heads per KV head (1, 2, 4 or 8).
 *   q, out:           [batch, heads, 128], contiguous.
 *   k_cache, v_cache: [num_blocks, block_size, kv_heads, 128] pools (16-byte aligned); token t of sequence b is at
 *                     block block_table[b * block_table_stride + t / block_size], row t % block_size.
 *   seqlens:          int32 [batch] (device); a length of 0 gives an output of zeros.
 * Each thread block reads one KV head's pages of one range of the sequence once, for all G query heads, through a
 * cp.async pipeline (any compute capability 8.0+); a long sequence is split into ranges of split_tokens tokens whose partial results a second kernel
 * combines in split order: the result depends only on the arguments (bit-stable across runs), not on timing.
 */
#ifndef PAGEDSIM_PAGED_H
#define PAGEDSIM_PAGED_H

#include <stdint.h>

#include "pagedsim_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel: scores and p.V on tensor cores (mma.sync m16n8k16, 128 tokens a stage, probabilities rounded to the
 * element type before p.V as flash-attention does), or on CUDA cores in float32 (32 tokens a stage). */
typedef enum psk_paged_kernel { PSK_PAGED_TENSOR_CORES = 0, PSK_PAGED_CUDA_CORES = 1 } psk_paged_kernel;

typedef struct psk_paged_args {
    int32_t dtype;              /* PSK_DTYPE_FP16 or PSK_DTYPE_BF16 */
    int32_t batch, heads, kv_heads, head_dim;
    float softmax_scale;
    const void* q;
    void* out;
    const void* k_cache;
    const void* v_cache;
    int32_t block_size;
    const int32_t* block_table;  /* device [batch, block_table_stride] */
    int64_t block_table_stride;  /* at least ceil(max_seqlen / block_size) */
    const int32_t* seqlens;      /* device [batch] */
    int32_t max_seqlen;          /* an upper bound of every length: sizes the split */
    int32_t num_splits;          /* 0: psk_paged_plan's choice; otherwise at most this many ranges (at most ceil(max_seqlen / 32)) */
    int32_t kernel;              /* PSK_PAGED_TENSOR_CORES (0) or PSK_PAGED_CUDA_CORES (1) */
    void* workspace;             /* psk_paged_plan's bytes (none when one split), 16-byte aligned */
    int64_t workspace_bytes;
    void* stream;                /* null = the legacy default stream */
} psk_paged_args;

/* sizeof(psk_paged_args), so a binding can check its mirror of the struct. */
PSK_API int32_t psk_paged_args_size(void);

/* The split count a decode with these arguments uses (args->num_splits, or the library's choice when 0) and the
 * workspace it needs. Checks the arguments as psk_paged_decode does, except the pointers. */
PSK_API int32_t psk_paged_plan(const psk_paged_args* args, int32_t* num_splits, int64_t* workspace_bytes);

/* Queues the decode attention on args->stream. */
PSK_API int32_t psk_paged_decode(const psk_paged_args* args);

#ifdef __cplusplus
}
#endif

#endif /* PAGEDSIM_PAGED_H */
