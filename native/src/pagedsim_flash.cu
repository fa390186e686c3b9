// C ABI over flash-attention 2's split-KV forward kernels. Mirrors what mha_fwd_kvcache (flash-attention's
// csrc/flash_attn/flash_api.cpp) does for a KV cache read, without PyTorch: argument checks, the GQA layout for
// decode (seqlen_q == 1), the num_splits heuristic from the SM count, and the launch. Buffers are the caller's.

#include "pagedsim_flash.h"

#include "flash.h"
#include "static_switch.h"

#include <cuda_runtime.h>
#include <cutlass/numeric_types.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <vector>

namespace {

thread_local char t_last_error[512] = "";

int32_t fail(psf_status status, const char* format, ...) {
    va_list list;
    va_start(list, format);
    std::vsnprintf(t_last_error, sizeof t_last_error, format, list);
    va_end(list);
    return status;
}

constexpr int kHeadDim = 128;
constexpr int kMaxDevices = 64;
int g_sm_count[kMaxDevices] = {};  // 0 = not queried yet; a benign race (same value written)

// This needs to match run_mha_fwd_splitkv_dispatch (kBlockN 128 for head dim 128, kBlockM 64).
constexpr int kBlockN = 128;
constexpr int kBlockM = 64;

// flash_api.cpp's num_splits_heuristic, verbatim in behaviour.
int num_splits_heuristic(int batch_nheads_mblocks, int num_sms, int num_n_blocks, int max_splits) {
    if (batch_nheads_mblocks >= 0.8f * num_sms) { return 1; }
    max_splits = std::min({max_splits, num_sms, num_n_blocks});
    float max_efficiency = 0.f;
    std::vector<float> efficiency;
    efficiency.reserve(max_splits);
    auto ceildiv = [](int a, int b) { return (a + b - 1) / b; };
    auto is_split_eligible = [&](int s) { return s == 1 || ceildiv(num_n_blocks, s) != ceildiv(num_n_blocks, s - 1); };
    for (int s = 1; s <= max_splits; s++) {
        if (!is_split_eligible(s)) {
            efficiency.push_back(0.f);
        } else {
            float n_waves = float(batch_nheads_mblocks * s) / num_sms;
            float eff = n_waves / std::ceil(n_waves);
            max_efficiency = std::max(max_efficiency, eff);
            efficiency.push_back(eff);
        }
    }
    for (int s = 1; s <= max_splits; s++) {
        if (is_split_eligible(s) && efficiency[s - 1] >= 0.85 * max_efficiency) { return s; }
    }
    return 1;
}

int32_t set_device(int device) {
    if (device < 0 || device >= kMaxDevices) { return fail(PSF_ERR_DEVICE, "device %d is not a valid CUDA device ordinal", device); }
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != device) {
        cudaError_t e = cudaSetDevice(device);
        if (e != cudaSuccess) { return fail(PSF_ERR_DEVICE, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e)); }
    }
    if (g_sm_count[device] == 0) {
        int major = 0, sms = 0;
        cudaError_t e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
        if (e == cudaSuccess) { e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); }
        if (e != cudaSuccess) { return fail(PSF_ERR_DEVICE, "querying device %d: %s", device, cudaGetErrorString(e)); }
        if (major < 8) { return fail(PSF_ERR_DEVICE, "device %d has compute capability %d.x; flash-attention needs 8.0 or newer", device, major); }
        g_sm_count[device] = sms;
    }
    return PSF_OK;
}

// The effective launch shape: decode with GQA turns the query heads sharing a KV head into rows of one query.
struct Shape {
    bool swapped;
    int seqlen_q, num_heads;
    int capacity;
    int num_splits;
    int64_t workspace_bytes;
};

int32_t check_stride(const char* name, int64_t stride) {
    if (stride <= 0 || stride % 8 != 0) {
        return fail(PSF_ERR_STRIDE, "%s is %lld; strides must be positive multiples of 8 elements (16-byte rows)", name, (long long)stride);
    }
    return PSF_OK;
}

int32_t check_ptr(const char* name, const void* p, bool aligned) {
    if (p == nullptr) { return fail(PSF_ERR_NULL_POINTER, "%s is null", name); }
    if (aligned && reinterpret_cast<uintptr_t>(p) % 16 != 0) { return fail(PSF_ERR_STRIDE, "%s is not 16-byte aligned", name); }
    return PSF_OK;
}

#define PSF_TRY(expr) do { int32_t psf_rc_ = (expr); if (psf_rc_ != PSF_OK) return psf_rc_; } while (0)

// Shape checks shared by psf_plan and the forward calls; fills `shape`.
int32_t plan(const psf_fwd_args* a, bool paged, Shape* shape) {
    if (a == nullptr) { return fail(PSF_ERR_NULL_POINTER, "args is null"); }
    if (a->dtype != PSF_DTYPE_FP16 && a->dtype != PSF_DTYPE_BF16) {
        return fail(PSF_ERR_DTYPE, "dtype is %d; only fp16 (0) and bf16 (1) are supported", a->dtype);
    }
    if (a->head_dim != kHeadDim) { return fail(PSF_ERR_HEAD_DIM, "head_dim is %d; this build has head dim 128 only", a->head_dim); }
    if (a->batch <= 0 || a->seqlen_q <= 0 || a->num_heads <= 0 || a->num_heads_k <= 0) {
        return fail(PSF_ERR_SHAPE, "batch (%d), seqlen_q (%d), num_heads (%d) and num_heads_k (%d) must be positive",
                    a->batch, a->seqlen_q, a->num_heads, a->num_heads_k);
    }
    if (a->num_heads % a->num_heads_k != 0) {
        return fail(PSF_ERR_SHAPE, "num_heads (%d) is not a multiple of num_heads_k (%d)", a->num_heads, a->num_heads_k);
    }
    if (a->num_splits < 0 || a->num_splits > 128) { return fail(PSF_ERR_SPLITS, "num_splits is %d; must be 0 (heuristic) to 128", a->num_splits); }
    if (a->cache_batch <= 0 || a->cache_len <= 0) {
        return fail(PSF_ERR_SHAPE, "cache dimensions (%d, %d) must be positive", a->cache_batch, a->cache_len);
    }
    int64_t capacity;
    if (paged) {
        if (a->cache_len % 256 != 0) { return fail(PSF_ERR_PAGE_SIZE, "page_size (cache_len) is %d; flash-attention 2 needs a multiple of 256", a->cache_len); }
        if (a->max_blocks_per_seq <= 0) { return fail(PSF_ERR_SHAPE, "max_blocks_per_seq is %d; must be positive", a->max_blocks_per_seq); }
        if (a->block_table_stride < a->max_blocks_per_seq) {
            return fail(PSF_ERR_STRIDE, "block_table_stride (%lld) is smaller than max_blocks_per_seq (%d)", (long long)a->block_table_stride, a->max_blocks_per_seq);
        }
        capacity = int64_t(a->max_blocks_per_seq) * a->cache_len;
    } else {
        if (a->block_table == nullptr && a->cache_batch < a->batch) {
            return fail(PSF_ERR_SHAPE, "the contiguous cache holds %d rows, fewer than batch (%d), and no cache rows are given", a->cache_batch, a->batch);
        }
        if (a->block_table != nullptr && a->block_table_stride != 1) {
            return fail(PSF_ERR_STRIDE, "block_table_stride is %lld; the contiguous layout's cache rows must be one int32 per request (stride 1)", (long long)a->block_table_stride);
        }
        capacity = a->cache_len;
    }
    if (capacity > (1 << 30)) { return fail(PSF_ERR_SHAPE, "capacity %lld tokens per request is too large", (long long)capacity); }
    PSF_TRY(set_device(a->device));

    Shape s{};
    const bool varlen = a->cu_seqlens_q != nullptr;
    // mha_fwd_kvcache: seqlen_q == 1 with GQA runs as seqlen_q = ngroups, heads = num_heads_k (no causal needed).
    s.swapped = !varlen && a->seqlen_q == 1 && a->num_heads > a->num_heads_k;
    s.seqlen_q = s.swapped ? a->num_heads / a->num_heads_k : a->seqlen_q;
    s.num_heads = s.swapped ? a->num_heads_k : a->num_heads;
    s.capacity = int(capacity);
    const int num_n_blocks = (s.capacity + kBlockN - 1) / kBlockN;
    const int num_m_blocks = (s.seqlen_q + kBlockM - 1) / kBlockM;
    // 2 x SMs: the kernels use 128 threads per block, two blocks fit an SM (as flash_api.cpp assumes).
    s.num_splits = varlen ? 1 : a->num_splits > 0 ? a->num_splits
        : num_splits_heuristic(a->batch * s.num_heads * num_m_blocks, g_sm_count[a->device] * 2, num_n_blocks, 128);
    const int64_t rows = int64_t(a->batch) * s.num_heads * s.seqlen_q;
    s.workspace_bytes = 4 * rows * (1 + (s.num_splits > 1 ? int64_t(s.num_splits) * (1 + kHeadDim) : 0));
    *shape = s;
    return PSF_OK;
}

int32_t forward(const psf_fwd_args* a, bool paged) {
    Shape s;
    PSF_TRY(plan(a, paged, &s));
    PSF_TRY(check_ptr("q", a->q, true));
    PSF_TRY(check_ptr("out", a->out, true));
    PSF_TRY(check_ptr("k", a->k, true));
    PSF_TRY(check_ptr("v", a->v, true));
    PSF_TRY(check_ptr("seqlens_k", a->seqlens_k, false));
    PSF_TRY(check_ptr("workspace", a->workspace, true));
    if (paged) { PSF_TRY(check_ptr("block_table", a->block_table, false)); }
    const struct { const char* name; int64_t value; } strides[] = {
        {"q_batch_stride", a->q_batch_stride}, {"q_row_stride", a->q_row_stride}, {"q_head_stride", a->q_head_stride},
        {"out_batch_stride", a->out_batch_stride}, {"out_row_stride", a->out_row_stride}, {"out_head_stride", a->out_head_stride},
        {"k_batch_stride", a->k_batch_stride}, {"k_row_stride", a->k_row_stride}, {"k_head_stride", a->k_head_stride},
        {"v_batch_stride", a->v_batch_stride}, {"v_row_stride", a->v_row_stride}, {"v_head_stride", a->v_head_stride},
    };
    for (const auto& st : strides) { PSF_TRY(check_stride(st.name, st.value)); }
    if (a->workspace_bytes < s.workspace_bytes) {
        return fail(PSF_ERR_WORKSPACE, "workspace is %lld bytes; this shape needs %lld (see psf_plan)", (long long)a->workspace_bytes, (long long)s.workspace_bytes);
    }
    const bool varlen = a->cu_seqlens_q != nullptr;
    const bool causal = a->causal != 0 && (a->seqlen_q > 1 || varlen);  // one query token sees every key: causal is moot
    const char* capacity_name = paged ? "max_blocks_per_seq * page_size" : "cache_len";
    auto check_length = [&](const char* what, int b, int len) {
        if (len < 1 || len > s.capacity) {
            return fail(PSF_ERR_SEQLEN, "%s[%d] is %d; must be within [1, %d] (the capacity, %s)", what, b, len, s.capacity, capacity_name);
        }
        if (causal && !varlen && len < a->seqlen_q) {  // varlen: each request's query count is on the device only
            return fail(PSF_ERR_SEQLEN, "%s[%d] is %d, fewer than seqlen_q (%d): the keys must include the query tokens", what, b, len, a->seqlen_q);
        }
        return int32_t(PSF_OK);
    };
    if (a->seqlens_k_host == nullptr) {
        PSF_TRY(check_length("max_seqlen_k", 0, a->max_seqlen_k));
    }
    for (int b = 0; b < a->batch; b++) {
        const int len = a->seqlens_k_host != nullptr ? a->seqlens_k_host[b] : a->max_seqlen_k;
        if (a->seqlens_k_host != nullptr) { PSF_TRY(check_length("seqlens_k", b, len)); }
        if (a->seqlens_k_host == nullptr || a->block_table_host == nullptr || a->block_table == nullptr) { continue; }
        const int used = paged ? (len + a->cache_len - 1) / a->cache_len : 1;
        for (int i = 0; i < used; i++) {
            const int id = a->block_table_host[int64_t(b) * a->block_table_stride + i];
            if (id < 0 || id >= a->cache_batch) {
                return fail(PSF_ERR_BLOCK_TABLE, "block_table[%d][%d] is %d; must be within [0, %d) (%s)", b, i, id, a->cache_batch,
                            paged ? "the number of blocks" : "the cache rows");
            }
        }
    }

    using namespace FLASH_NAMESPACE;
    Flash_fwd_params p{};
    const int ngroups = a->num_heads / a->num_heads_k;
    p.is_bf16 = a->dtype == PSF_DTYPE_BF16;
    p.q_ptr = a->q;
    p.k_ptr = a->k;
    p.v_ptr = a->v;
    p.o_ptr = a->out;
    p.q_batch_stride = a->q_batch_stride;
    p.o_batch_stride = a->out_batch_stride;
    if (s.swapped) {
        // q viewed as [batch, ngroups, num_heads_k, d]: query head (kh * ngroups + g) becomes row g of head kh.
        p.q_row_stride = a->q_head_stride;
        p.q_head_stride = a->q_head_stride * ngroups;
        p.o_row_stride = a->out_head_stride;
        p.o_head_stride = a->out_head_stride * ngroups;
    } else {
        p.q_row_stride = a->q_row_stride;
        p.q_head_stride = a->q_head_stride;
        p.o_row_stride = a->out_row_stride;
        p.o_head_stride = a->out_head_stride;
    }
    p.k_batch_stride = a->k_batch_stride;
    p.k_row_stride = a->k_row_stride;
    p.k_head_stride = a->k_head_stride;
    p.v_batch_stride = a->v_batch_stride;
    p.v_row_stride = a->v_row_stride;
    p.v_head_stride = a->v_head_stride;

    p.b = a->batch;
    p.h = s.num_heads;
    p.h_k = a->num_heads_k;
    p.h_h_k_ratio = s.num_heads / a->num_heads_k;
    p.seqlen_q = s.seqlen_q;
    p.seqlen_k = s.capacity;
    auto round_up = [](int x, int m) { return (x + m - 1) / m * m; };
    p.seqlen_q_rounded = round_up(s.seqlen_q, 128);
    p.seqlen_k_rounded = round_up(s.capacity, 128);
    p.d = kHeadDim;
    p.d_rounded = kHeadDim;
    p.rotary_dim = 0;

    p.scale_softmax = a->softmax_scale;
    p.scale_softmax_log2 = a->softmax_scale * float(M_LOG2E);
    p.softcap = 0.f;
    p.p_dropout = 1.f;  // probability of keeping
    p.p_dropout_in_uint8_t = 255;
    p.rp_dropout = 1.f;
    p.scale_softmax_rp_dropout = a->softmax_scale;
    p.is_causal = causal;
    p.window_size_left = causal ? s.capacity : -1;
    p.window_size_right = causal ? 0 : -1;

    p.cu_seqlens_k = const_cast<int*>(a->seqlens_k);
    p.is_seqlens_k_cumulative = false;
    p.cu_seqlens_q = const_cast<int*>(a->cu_seqlens_q);  // null: every request has seqlen_q queries
    if (paged) {
        p.block_table = const_cast<int*>(a->block_table);
        p.block_table_batch_stride = a->block_table_stride;
        p.page_block_size = a->cache_len;
    } else {
        p.cache_batch_idx = const_cast<int*>(a->block_table);  // null: request b reads cache row b
        p.page_block_size = 1;
    }

    float* ws = static_cast<float*>(a->workspace);
    const int64_t rows = int64_t(a->batch) * s.num_heads * s.seqlen_q;
    p.softmax_lse_ptr = ws;
    p.num_splits = s.num_splits;
    if (s.num_splits > 1) {
        p.softmax_lseaccum_ptr = ws + rows;
        p.oaccum_ptr = ws + rows + rows * s.num_splits;
    }
    p.unpadded_lse = false;
    p.seqlenq_ngroups_swapped = false;

    cudaStream_t stream = static_cast<cudaStream_t>(a->stream);
    try {
        FP16_SWITCH(!p.is_bf16, [&] {
            BOOL_SWITCH(p.is_causal, Is_causal, [&] {
                run_mha_fwd_splitkv_dispatch<elem_type, kHeadDim, Is_causal>(p, stream);
            });
        });
    } catch (const std::exception& e) {
        return fail(PSF_ERR_CUDA, "%s", e.what());
    } catch (...) {
        return fail(PSF_ERR_INTERNAL, "unknown exception in the kernel launch");
    }
    return PSF_OK;
}

}  // namespace

extern "C" {

PSF_API int32_t psf_abi_version(void) { return PSF_ABI_VERSION; }

PSF_API int32_t psf_args_size(void) { return int32_t(sizeof(psf_fwd_args)); }

PSF_API const char* psf_last_error(void) { return t_last_error; }

PSF_API int32_t psf_plan(const psf_fwd_args* args, int32_t paged, int32_t* num_splits, int64_t* workspace_bytes) {
    t_last_error[0] = '\0';
    if (num_splits == nullptr || workspace_bytes == nullptr) { return fail(PSF_ERR_NULL_POINTER, "num_splits or workspace_bytes is null"); }
    Shape s;
    PSF_TRY(plan(args, paged != 0, &s));
    *num_splits = s.num_splits;
    *workspace_bytes = s.workspace_bytes;
    return PSF_OK;
}

PSF_API int32_t psf_fwd_paged(const psf_fwd_args* args) {
    t_last_error[0] = '\0';
    return forward(args, true);
}

PSF_API int32_t psf_fwd_contiguous(const psf_fwd_args* args) {
    t_last_error[0] = '\0';
    return forward(args, false);
}

}  // extern "C"
