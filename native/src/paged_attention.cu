// Paged decode attention (pagedsim_paged.h) for any block size, head dim 128, GQA-aware: two kernels, on tensor cores
// (decode_mma_kernel, the default) and on CUDA cores in float32 (decode_kernel, below).
//
// Grid (splits, kv_heads, batch), 4 warps a block. The CUDA-core kernel: A block streams its KV head's keys and values of one token range
// through shared memory, 32 tokens a stage, kStages stages deep (cp.async, 16 bytes a copy; tokens are looked up one
// by one in the block table, so the block size is free). Per stage: warp g scores the stage's 32 tokens (a lane a
// token) for query head g (and g + 4 when G = 8), updates that head's running max and sum (online softmax, base 2),
// and leaves the probabilities in shared memory; then every warp accumulates its 8 tokens' p.V for all G heads (a lane
// owns 4 of the 128 dims). The 4 warps' sums are added in warp order at the end. With one split the block writes the
// normalised output; otherwise (m, l, sum p.V) per split go to the workspace and combine_kernel merges them in split
// order. Every order is fixed, so results are bit-stable.

#include "common.cuh"
#include "pagedsim_paged.h"

#include <type_traits>

namespace {

using namespace psk_detail;

constexpr int kHeadDim = 128;
constexpr int kTile = 32;                            // tokens a pipeline stage
constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int kRowBytes = kHeadDim * 2 + 16;         // a token's padded row: lanes' 16-byte loads of rows hit distinct banks
constexpr int kStageBytes = 2 * kTile * kRowBytes;   // keys, then values
constexpr int kStages = 4;
constexpr int kSharedBytes = kStages * kStageBytes;  // dynamic shared memory of a block
constexpr int kPartialFloats = kHeadDim + 2;         // a split's sum p.V, then its max and its sum of p

__device__ __forceinline__ void cp_async16(void* shared, const void* global, bool valid) {
    const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
    const int bytes = valid ? 16 : 0;  // 0: nothing is read, the 16 bytes are zeroed (a token past the end)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global), "r"(bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Two packed elements as floats.
template <typename T> __device__ __forceinline__ float2 unpack(uint32_t packed);
template <> __device__ __forceinline__ float2 unpack<__nv_bfloat16>(uint32_t packed) {
    return make_float2(__uint_as_float(packed << 16), __uint_as_float(packed & 0xffff0000u));
}
template <> __device__ __forceinline__ float2 unpack<__half>(uint32_t packed) {
    __half2 h;
    *reinterpret_cast<uint32_t*>(&h) = packed;
    return __half22float2(h);
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) { v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset)); }
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) { v += __shfl_xor_sync(0xffffffffu, v, offset); }
    return v;
}

template <typename T, int G>
__global__ void __launch_bounds__(kThreads) decode_kernel(const T* __restrict__ q, T* __restrict__ out, const T* __restrict__ k_cache,
                                                          const T* __restrict__ v_cache, const int32_t* __restrict__ block_table,
                                                          int64_t table_stride, const int32_t* __restrict__ seqlens, int heads, int kv_heads,
                                                          int block_size, int split_tokens, int num_splits, float scale_log2,
                                                          float* __restrict__ partial) {
    extern __shared__ __align__(16) unsigned char stages[];
    __shared__ __align__(16) float q_s[G][kHeadDim];
    __shared__ float p_s[G][kTile];
    __shared__ float alpha_s[G], m_s[G], l_s[G];
    constexpr int kHeadsPerWarp = (G + kWarps - 1) / kWarps;

    allow_next_launch();
    const int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    wait_for_previous();  // q comes from the previous kernel
    const int len = seqlens[b];
    const int start = split * split_tokens;
    if (start >= len) {
        if (len <= 0 && num_splits == 1) {  // an empty sequence: zeros (with splits, the combine writes them)
            for (int i = threadIdx.x; i < G * kHeadDim; i += kThreads) {
                out[(size_t(b) * heads + size_t(h) * G) * kHeadDim + i] = from_float<T>(0.f);
            }
        }
        return;
    }
    const int end = min(len, start + split_tokens);
    const int tiles = (end - start + kTile - 1) / kTile;

    const int32_t* table = block_table + size_t(b) * table_stride;
    const size_t token_stride = size_t(kv_heads) * kHeadDim, head_offset = size_t(h) * kHeadDim;
    // Stage `stage` <- keys and values of the range's tile `tile`: 16 threads a token row, 8 rows a pass.
    auto load_tile = [&](int tile, int stage) {
        unsigned char* ks = stages + stage * kStageBytes;
        unsigned char* vs = ks + kTile * kRowBytes;
        const int chunk = threadIdx.x % 16;
#pragma unroll
        for (int r = threadIdx.x / 16; r < kTile; r += kThreads / 16) {
            const int t = start + tile * kTile + r;
            const bool valid = t < end;
            const T* kp = k_cache;
            const T* vp = v_cache;
            if (valid) {
                const size_t offset = (size_t(table[t / block_size]) * block_size + t % block_size) * token_stride + head_offset + chunk * 8;
                kp += offset;
                vp += offset;
            }
            cp_async16(ks + r * kRowBytes + chunk * 16, kp, valid);
            cp_async16(vs + r * kRowBytes + chunk * 16, vp, valid);
        }
    };
#pragma unroll
    for (int s = 0; s < kStages - 1; s++) {
        if (s < tiles) { load_tile(s, s); }
        cp_async_commit();
    }
    // The G query heads of this KV head, scaled so that scores come out in base-2 units.
    for (int i = threadIdx.x; i < G * kHeadDim; i += kThreads) {
        q_s[i / kHeadDim][i % kHeadDim] = to_float(q[(size_t(b) * heads + size_t(h) * G) * kHeadDim + i]) * scale_log2;
    }

    float m[kHeadsPerWarp], l[kHeadsPerWarp];  // running max and sum of heads warp, warp + 4 (scored by this warp)
#pragma unroll
    for (int j = 0; j < kHeadsPerWarp; j++) { m[j] = -INFINITY; l[j] = 0.f; }
    float acc[G][4];  // this warp's tokens' sum p.V, dims 4 lane .. 4 lane + 3
#pragma unroll
    for (int g = 0; g < G; g++) {
#pragma unroll
        for (int e = 0; e < 4; e++) { acc[g][e] = 0.f; }
    }

    for (int tile = 0; tile < tiles; tile++) {
        cp_async_wait<kStages - 2>();
        __syncthreads();  // tile's stage is in; everyone is done with the previous tile (its stage and p_s)
        {
            const int next = tile + kStages - 1;
            if (next < tiles) { load_tile(next, next % kStages); }
            cp_async_commit();
        }
        const unsigned char* ks = stages + (tile % kStages) * kStageBytes;
        const unsigned char* vs = ks + kTile * kRowBytes;
        const bool valid = start + tile * kTile + lane < end;
#pragma unroll
        for (int j = 0; j < kHeadsPerWarp; j++) {
            const int g = warp + j * kWarps;
            if (g < G) {
                const uint4* krow = reinterpret_cast<const uint4*>(ks + lane * kRowBytes);
                const float4* qrow = reinterpret_cast<const float4*>(q_s[g]);
                float s = 0.f;
#pragma unroll
                for (int c = 0; c < kHeadDim / 8; c++) {
                    const uint4 kv = krow[c];
                    const float4 qa = qrow[2 * c], qb = qrow[2 * c + 1];
                    const float2 k0 = unpack<T>(kv.x), k1 = unpack<T>(kv.y), k2 = unpack<T>(kv.z), k3 = unpack<T>(kv.w);
                    s = fmaf(qa.x, k0.x, s); s = fmaf(qa.y, k0.y, s); s = fmaf(qa.z, k1.x, s); s = fmaf(qa.w, k1.y, s);
                    s = fmaf(qb.x, k2.x, s); s = fmaf(qb.y, k2.y, s); s = fmaf(qb.z, k3.x, s); s = fmaf(qb.w, k3.y, s);
                }
                if (!valid) { s = -INFINITY; }
                const float m_new = fmaxf(m[j], warp_max(s));  // finite: a tile has at least one token of the range
                const float p = exp2f(s - m_new);
                const float alpha = exp2f(m[j] - m_new);        // 0 on the first tile
                l[j] = l[j] * alpha + warp_sum(p);
                m[j] = m_new;
                p_s[g][lane] = p;
                if (lane == 0) { alpha_s[g] = alpha; }
            }
        }
        __syncthreads();  // p_s and alpha_s of this tile
#pragma unroll
        for (int g = 0; g < G; g++) {
            const float a = alpha_s[g];
#pragma unroll
            for (int e = 0; e < 4; e++) { acc[g][e] *= a; }
        }
#pragma unroll
        for (int r = warp * (kTile / kWarps); r < (warp + 1) * (kTile / kWarps); r++) {
            const uint2 vv = *reinterpret_cast<const uint2*>(vs + r * kRowBytes + lane * 8);
            const float2 v0 = unpack<T>(vv.x), v1 = unpack<T>(vv.y);
#pragma unroll
            for (int g = 0; g < G; g++) {
                const float p = p_s[g][r];
                acc[g][0] = fmaf(p, v0.x, acc[g][0]);
                acc[g][1] = fmaf(p, v0.y, acc[g][1]);
                acc[g][2] = fmaf(p, v1.x, acc[g][2]);
                acc[g][3] = fmaf(p, v1.y, acc[g][3]);
            }
        }
    }

    cp_async_wait<0>();
    __syncthreads();  // every warp is done with the stages: they hold the warps' sums now
    float* sums = reinterpret_cast<float*>(stages);  // [kWarps][G][kHeadDim]
#pragma unroll
    for (int g = 0; g < G; g++) {
        *reinterpret_cast<float4*>(sums + (warp * G + g) * kHeadDim + 4 * lane) = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
    }
#pragma unroll
    for (int j = 0; j < kHeadsPerWarp; j++) {
        const int g = warp + j * kWarps;
        if (g < G && lane == 0) { m_s[g] = m[j]; l_s[g] = l[j]; }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < G * kHeadDim; i += kThreads) {
        const int g = i / kHeadDim, d = i % kHeadDim;
        float o = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; w++) { o += sums[(w * G + g) * kHeadDim + d]; }
        const size_t row = size_t(b) * heads + size_t(h) * G + g;
        if (num_splits == 1) {
            out[row * kHeadDim + d] = from_float<T>(o / l_s[g]);
        } else {
            float* part = partial + (row * num_splits + split) * kPartialFloats;
            part[d] = o;
            if (d == 0) { part[kHeadDim] = m_s[g]; part[kHeadDim + 1] = l_s[g]; }
        }
    }
}

// out[row] from the row's splits, merged in split order: one block a (sequence, query head), a thread a dim.
template <typename T>
__global__ void __launch_bounds__(kHeadDim) combine_kernel(const float* __restrict__ partial, T* __restrict__ out, const int32_t* __restrict__ seqlens,
                                                           int heads, int split_tokens, int num_splits) {
    allow_next_launch();
    wait_for_previous();
    const int row = blockIdx.x, d = threadIdx.x;
    const int len = seqlens[row / heads];
    const int n = len <= 0 ? 0 : min(num_splits, (len + split_tokens - 1) / split_tokens);
    const float* part = partial + size_t(row) * num_splits * kPartialFloats;
    float m = -INFINITY;
    for (int s = 0; s < n; s++) { m = fmaxf(m, part[s * kPartialFloats + kHeadDim]); }
    float l = 0.f, o = 0.f;
    for (int s = 0; s < n; s++) {
        const float* p = part + s * kPartialFloats;
        const float w = exp2f(p[kHeadDim] - m);
        l = fmaf(p[kHeadDim + 1], w, l);
        o = fmaf(p[d], w, o);
    }
    out[size_t(row) * kHeadDim + d] = from_float<T>(n == 0 ? 0.f : o / l);
}

// The tensor-core kernel: 4 warps, 128 tokens a stage (32 a warp), kMmaStages stages; rows of 256 bytes whose 16-byte
// chunks are XOR-swizzled by row, so that ldmatrix's eight rows hit distinct banks without padding. Each warp scores its
// 32 tokens as S = Q . K^T with mma.sync m16n8k16 (Q: the G query heads as rows 0..G-1 of a 16-row tile, the rest
// zero; K^T straight from the stage by ldmatrix), keeps its own running max and sum per head (a lane group of four a
// head), and accumulates P . V with P rounded to the element type (V^T by ldmatrix.trans). The warps' results are
// merged in warp order at the end, as the splits' are by combine_kernel.
constexpr int kMmaWarps = 4, kMmaThreads = 32 * kMmaWarps;
constexpr int kMmaTile = 32 * kMmaWarps;
constexpr int kMmaRowBytes = kHeadDim * 2;
constexpr int kMmaStageBytes = 2 * kMmaTile * kMmaRowBytes;  // 64 KiB: keys, then values
constexpr int kMmaStages = 3;
constexpr int kMmaSharedBytes = kMmaStages * kMmaStageBytes;

__device__ __forceinline__ int swizzled(int row, int chunk) { return row * kMmaRowBytes + ((chunk ^ (row & 7)) << 4); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
    const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

// (c0, c1) += rows 0..7 of A . B for m16n8k16: a0, a2 the A registers of rows 0..7 (rows 8..15 are zero), b0, b1 B's.
template <typename T>
__device__ __forceinline__ void mma_rows8(float& c0, float& c1, uint32_t a0, uint32_t a2, uint32_t b0, uint32_t b1) {
    float d2, d3;
    const uint32_t zero = 0;
    const float fzero = 0.f;
    if constexpr (std::is_same<T, __nv_bfloat16>::value) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %10, %11};\n"
            : "+f"(c0), "+f"(c1), "=f"(d2), "=f"(d3)
            : "r"(a0), "r"(zero), "r"(a2), "r"(zero), "r"(b0), "r"(b1), "f"(fzero), "f"(fzero));
    } else {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %10, %11};\n"
            : "+f"(c0), "+f"(c1), "=f"(d2), "=f"(d3)
            : "r"(a0), "r"(zero), "r"(a2), "r"(zero), "r"(b0), "r"(b1), "f"(fzero), "f"(fzero));
    }
}

// Two floats rounded to the element type, x in the low half.
template <typename T> __device__ __forceinline__ uint32_t pack(float x, float y);
template <> __device__ __forceinline__ uint32_t pack<__nv_bfloat16>(float x, float y) {
    __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
    return *reinterpret_cast<uint32_t*>(&v);
}
template <> __device__ __forceinline__ uint32_t pack<__half>(float x, float y) {
    __half2 v = __floats2half2_rn(x, y);
    return *reinterpret_cast<uint32_t*>(&v);
}

template <typename T, int G>
__global__ void __launch_bounds__(kMmaThreads) decode_mma_kernel(const T* __restrict__ q, T* __restrict__ out, const T* __restrict__ k_cache,
                                                                 const T* __restrict__ v_cache, const int32_t* __restrict__ block_table,
                                                                 int64_t table_stride, const int32_t* __restrict__ seqlens, int heads, int kv_heads,
                                                                 int block_size, int block_shift, int split_tokens, int num_splits, float scale_log2,
                                                                 float* __restrict__ partial) {
    static_assert(G <= 8, "the query heads of a KV head are rows of one m16 tile's upper half");
    extern __shared__ __align__(16) unsigned char stages[];
    __shared__ float m_s[kMmaWarps][8], l_s[kMmaWarps][8];

    allow_next_launch();
    const int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, group = lane / 4, quad = lane % 4;
    wait_for_previous();  // q comes from the previous kernel
    const int len = seqlens[b];
    const int start = split * split_tokens;
    if (start >= len) {
        if (len <= 0 && num_splits == 1) {
            for (int i = threadIdx.x; i < G * kHeadDim; i += kMmaThreads) {
                out[(size_t(b) * heads + size_t(h) * G) * kHeadDim + i] = from_float<T>(0.f);
            }
        }
        return;
    }
    const int end = min(len, start + split_tokens);
    const int tiles = (end - start + kMmaTile - 1) / kMmaTile;

    const int32_t* table = block_table + size_t(b) * table_stride;
    const size_t token_stride = size_t(kv_heads) * kHeadDim, head_offset = size_t(h) * kHeadDim;
    auto load_tile = [&](int tile, int stage) {
        unsigned char* ks = stages + stage * kMmaStageBytes;
        unsigned char* vs = ks + kMmaTile * kMmaRowBytes;
        const int chunk = threadIdx.x % 16;
#pragma unroll 4
        for (int r = threadIdx.x / 16; r < kMmaTile; r += kMmaThreads / 16) {
            const int t = start + tile * kMmaTile + r;
            const bool valid = t < end;
            const T* kp = k_cache;
            const T* vp = v_cache;
            if (valid) {
                const int block = block_shift >= 0 ? t >> block_shift : t / block_size;
                const size_t offset = (size_t(table[block]) * block_size + (t - block * block_size)) * token_stride + head_offset + chunk * 8;
                kp += offset;
                vp += offset;
            }
            cp_async16(ks + swizzled(r, chunk), kp, valid);
            cp_async16(vs + swizzled(r, chunk), vp, valid);
        }
    };
#pragma unroll
    for (int s = 0; s < kMmaStages - 1; s++) {
        if (s < tiles) { load_tile(s, s); }
        cp_async_commit();
    }
    // Q as the A operand: row `group` is query head group (zero past G); a0 holds dims 16 ks + 2 quad + {0, 1}, a2 the
    // same + 8.
    uint32_t qa[kHeadDim / 16][2];
    {
        const T* qrow = q + (size_t(b) * heads + size_t(h) * G + (group < G ? group : 0)) * kHeadDim;
#pragma unroll
        for (int ks = 0; ks < kHeadDim / 16; ks++) {
            qa[ks][0] = group < G ? *reinterpret_cast<const uint32_t*>(qrow + ks * 16 + quad * 2) : 0u;
            qa[ks][1] = group < G ? *reinterpret_cast<const uint32_t*>(qrow + ks * 16 + 8 + quad * 2) : 0u;
        }
    }
    float m = -INFINITY, l = 0.f;  // this warp's running max and sum of head `group`
    float o[kHeadDim / 8][2];      // this warp's sum p.V of head `group`, dims 8 n + 2 quad + {0, 1}
#pragma unroll
    for (int n = 0; n < kHeadDim / 8; n++) { o[n][0] = 0.f; o[n][1] = 0.f; }

    for (int tile = 0; tile < tiles; tile++) {
        cp_async_wait<kMmaStages - 2>();
        __syncthreads();  // this tile's stage is in; every warp is done with the stage the next load overwrites
        {
            const int next = tile + kMmaStages - 1;
            if (next < tiles) { load_tile(next, next % kMmaStages); }
            cp_async_commit();
        }
        const unsigned char* ks = stages + (tile % kMmaStages) * kMmaStageBytes;
        const unsigned char* vs = ks + kMmaTile * kMmaRowBytes;
        const int first = start + tile * kMmaTile + warp * 32;  // this warp's first token
        if (first >= end) { continue; }                          // none of its tokens is in the range
        // Scores of head `group` for tokens first + 8 n + 2 quad + {0, 1}.
        float s[4][2];
#pragma unroll
        for (int n = 0; n < 4; n++) {
            s[n][0] = 0.f;
            s[n][1] = 0.f;
            const int row = warp * 32 + n * 8 + (lane & 7);
#pragma unroll
            for (int kp = 0; kp < kHeadDim / 32; kp++) {  // two k-steps of 16 dims a load
                uint32_t r[4];
                ldmatrix_x4(r, ks + swizzled(row, 4 * kp + (lane >> 3)));
                mma_rows8<T>(s[n][0], s[n][1], qa[2 * kp][0], qa[2 * kp][1], r[0], r[1]);
                mma_rows8<T>(s[n][0], s[n][1], qa[2 * kp + 1][0], qa[2 * kp + 1][1], r[2], r[3]);
            }
        }
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < 4; n++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const float v = first + n * 8 + quad * 2 + e < end ? s[n][e] * scale_log2 : -INFINITY;
                s[n][e] = v;
                mx = fmaxf(mx, v);
            }
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m, mx);  // finite: the warp's first token is in the range
        const float alpha = exp2f(m - m_new);
        float sum = 0.f;
#pragma unroll
        for (int n = 0; n < 4; n++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                s[n][e] = exp2f(s[n][e] - m_new);
                sum += s[n][e];
            }
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        l = l * alpha + sum;
        m = m_new;
#pragma unroll
        for (int n = 0; n < kHeadDim / 8; n++) { o[n][0] *= alpha; o[n][1] *= alpha; }
        // P . V: k-steps of 16 tokens (the scores of n-tiles 2 kk and 2 kk + 1 are the A registers), 16 dims a load.
#pragma unroll
        for (int kk = 0; kk < 2; kk++) {
            const uint32_t a0 = pack<T>(s[2 * kk][0], s[2 * kk][1]), a2 = pack<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            const int row = warp * 32 + kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
            for (int d = 0; d < kHeadDim / 16; d++) {
                uint32_t r[4];
                ldmatrix_x4_trans(r, vs + swizzled(row, 2 * d + (lane >> 4)));
                mma_rows8<T>(o[2 * d][0], o[2 * d][1], a0, a2, r[0], r[1]);
                mma_rows8<T>(o[2 * d + 1][0], o[2 * d + 1][1], a0, a2, r[2], r[3]);
            }
        }
    }

    cp_async_wait<0>();
    __syncthreads();  // every warp is done with the stages: they hold the warps' results now
    float* sums = reinterpret_cast<float*>(stages);  // [kMmaWarps][8][kHeadDim]
#pragma unroll
    for (int n = 0; n < kHeadDim / 8; n++) {
        *reinterpret_cast<float2*>(sums + (warp * 8 + group) * kHeadDim + n * 8 + quad * 2) = make_float2(o[n][0], o[n][1]);
    }
    if (quad == 0) { m_s[warp][group] = m; l_s[warp][group] = l; }
    __syncthreads();
    for (int i = threadIdx.x; i < G * kHeadDim; i += kMmaThreads) {
        const int g = i / kHeadDim, d = i % kHeadDim;
        float mw = -INFINITY;
#pragma unroll
        for (int w = 0; w < kMmaWarps; w++) { mw = fmaxf(mw, m_s[w][g]); }
        float lw = 0.f, ow = 0.f;
#pragma unroll
        for (int w = 0; w < kMmaWarps; w++) {
            const float scale = m_s[w][g] == -INFINITY ? 0.f : exp2f(m_s[w][g] - mw);  // a warp without tokens adds nothing
            lw = fmaf(l_s[w][g], scale, lw);
            ow = fmaf(sums[(w * 8 + g) * kHeadDim + d], scale, ow);
        }
        const size_t row = size_t(b) * heads + size_t(h) * G + g;
        if (num_splits == 1) {
            out[row * kHeadDim + d] = from_float<T>(ow / lw);
        } else {
            float* part = partial + (row * num_splits + split) * kPartialFloats;
            part[d] = ow;
            if (d == 0) { part[kHeadDim] = mw; part[kHeadDim + 1] = lw; }
        }
    }
}

int32_t check(const psk_paged_args* a) {
    if (!valid_dtype(a->dtype)) { return fail(PSK_ERR_DTYPE, "paged_decode: dtype %d is not fp16 (0) or bf16 (1)", a->dtype); }
    const int g = a->kv_heads > 0 ? a->heads / a->kv_heads : 0;
    if (a->batch <= 0 || a->batch > 65535 || a->kv_heads <= 0 || a->kv_heads > 65535 || a->heads % a->kv_heads != 0 ||
        (g != 1 && g != 2 && g != 4 && g != 8) || a->head_dim != kHeadDim) {
        return fail(PSK_ERR_SHAPE, "paged_decode: batch %d, heads %d, kv_heads %d (1, 2, 4 or 8 query heads a KV head), head_dim %d (128)",
                    a->batch, a->heads, a->kv_heads, a->head_dim);
    }
    if (a->block_size <= 0 || a->max_seqlen <= 0 || a->block_table_stride < (int64_t(a->max_seqlen) + a->block_size - 1) / a->block_size) {
        return fail(PSK_ERR_SHAPE, "paged_decode: block size %d, max_seqlen %d, block table stride %lld (at least ceil(max_seqlen / block size))",
                    a->block_size, a->max_seqlen, (long long)a->block_table_stride);
    }
    const int tiles = (a->max_seqlen + kTile - 1) / kTile;
    if (a->num_splits < 0 || a->num_splits > tiles) {
        return fail(PSK_ERR_SHAPE, "paged_decode: num_splits %d (0 or 1..%d for max_seqlen %d)", a->num_splits, tiles, a->max_seqlen);
    }
    if (a->kernel != PSK_PAGED_TENSOR_CORES && a->kernel != PSK_PAGED_CUDA_CORES) {
        return fail(PSK_ERR_SHAPE, "paged_decode: kernel %d (0: tensor cores, 1: CUDA cores)", a->kernel);
    }
    return PSK_OK;
}

// Shared memory a multiprocessor has for blocks (0 if unknown).
int shared_per_multiprocessor(int device) {
    static int bytes[kMaxDevices] = {};  // 0 = not queried yet; a benign race (same value written)
    if (device < 0 || device >= kMaxDevices) { return 0; }
    if (bytes[device] == 0 && cudaDeviceGetAttribute(&bytes[device], cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess) { return 0; }
    return bytes[device];
}

// Splits and tokens a split (a whole number of the kernel's stages each). Given a count, at most that many ranges.
// Otherwise the count that minimises an estimate of the time: the waves of blocks the grid takes (blocks resident at
// once: the multiprocessors times the blocks their shared memory holds) times the stages a block streams, plus two
// stages' worth for a block's start (its first loads) and end.
void plan(const psk_paged_args* a, int device, int* splits, int* split_tokens) {
    const bool mma = a->kernel == PSK_PAGED_TENSOR_CORES;
    const int tile = mma ? kMmaTile : kTile;
    const int tiles = (a->max_seqlen + tile - 1) / tile;
    int n = a->num_splits;
    if (n == 0) {
        const int sms = multiprocessors(device) > 0 ? multiprocessors(device) : 132;
        const int per_sm_bytes = shared_per_multiprocessor(device) > 0 ? shared_per_multiprocessor(device) : 228 * 1024;
        const int block_bytes = (mma ? kMmaSharedBytes : kSharedBytes) + 4 * 1024;  // dynamic + static + reserved
        const int64_t slots = int64_t(sms) * (per_sm_bytes / block_bytes > 0 ? per_sm_bytes / block_bytes : 1);
        const int64_t pairs = int64_t(a->batch) * a->kv_heads;
        int64_t best = -1;
        for (int c = 1; c <= tiles; c++) {
            const int64_t per_split = (tiles + c - 1) / c;
            if (c > 1 && (tiles + per_split - 1) / per_split < c) { continue; }  // the same ranges as a smaller count
            const int64_t cost = (pairs * c + slots - 1) / slots * (per_split + 2) + (c > 1 ? 1 : 0);  // + the combine
            if (best < 0 || cost < best) { best = cost; n = c; }
        }
    }
    const int tiles_per_split = (tiles + n - 1) / n;
    *split_tokens = tiles_per_split * tile;
    *splits = (tiles + tiles_per_split - 1) / tiles_per_split;
}

template <typename T, int G>
cudaError_t launch_decode(const psk_paged_args* a, int splits, int split_tokens, cudaStream_t s) {
    const float scale_log2 = a->softmax_scale * 1.4426950408889634f;
    float* partial = splits > 1 ? static_cast<float*>(a->workspace) : nullptr;
    const T* q = static_cast<const T*>(a->q);
    T* out = static_cast<T*>(a->out);
    const T* k = static_cast<const T*>(a->k_cache);
    const T* v = static_cast<const T*>(a->v_cache);
    dim3 grid{unsigned(splits), unsigned(a->kv_heads), unsigned(a->batch)};
    cudaError_t e;
    bool mma = a->kernel == PSK_PAGED_TENSOR_CORES;
    if (mma && cudaFuncSetAttribute(decode_mma_kernel<T, G>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMmaSharedBytes) != cudaSuccess) {
        cudaGetLastError();  // a GPU with less shared memory a block (A100: 164 KiB): the CUDA-core kernel, same ranges
        mma = false;
    }
    if (mma) {
        auto kernel = decode_mma_kernel<T, G>;
        int shift = -1;
        for (int bit = 0; bit < 31; bit++) {
            if ((1 << bit) == a->block_size) { shift = bit; }
        }
        e = launch_shared(kernel, grid, dim3{unsigned(kMmaThreads)}, kMmaSharedBytes, s, q, out, k, v, a->block_table, a->block_table_stride,
                          a->seqlens, a->heads, a->kv_heads, a->block_size, shift, split_tokens, splits, scale_log2, partial);
    } else {
        auto kernel = decode_kernel<T, G>;
        e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
        if (e != cudaSuccess) { return e; }
        e = launch_shared(kernel, grid, dim3{unsigned(kThreads)}, kSharedBytes, s, q, out, k, v, a->block_table, a->block_table_stride,
                          a->seqlens, a->heads, a->kv_heads, a->block_size, split_tokens, splits, scale_log2, partial);
    }
    if (e != cudaSuccess || splits == 1) { return e; }
    return launch(combine_kernel<T>, dim3{unsigned(a->batch * a->heads)}, dim3{unsigned(kHeadDim)}, s, static_cast<const float*>(partial),
                  out, a->seqlens, a->heads, split_tokens, splits);
}

template <typename T>
cudaError_t launch_groups(const psk_paged_args* a, int splits, int split_tokens, cudaStream_t s) {
    switch (a->heads / a->kv_heads) {
        case 1: return launch_decode<T, 1>(a, splits, split_tokens, s);
        case 2: return launch_decode<T, 2>(a, splits, split_tokens, s);
        case 4: return launch_decode<T, 4>(a, splits, split_tokens, s);
        default: return launch_decode<T, 8>(a, splits, split_tokens, s);
    }
}

int64_t workspace_bytes(const psk_paged_args* a, int splits) {
    return splits > 1 ? int64_t(a->batch) * a->heads * splits * kPartialFloats * int64_t(sizeof(float)) : 0;
}

}  // namespace

extern "C" {

PSK_API int32_t psk_paged_args_size(void) { return int32_t(sizeof(psk_paged_args)); }

PSK_API int32_t psk_paged_plan(const psk_paged_args* a, int32_t* num_splits, int64_t* bytes) {
    clear_error();
    if (a == nullptr || num_splits == nullptr || bytes == nullptr) { return fail(PSK_ERR_NULL_POINTER, "paged_plan: args, num_splits or bytes is null"); }
    int32_t rc = check(a);
    if (rc != PSK_OK) { return rc; }
    int device = 0;
    rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    int splits = 1, split_tokens = 0;
    plan(a, device, &splits, &split_tokens);
    *num_splits = splits;
    *bytes = workspace_bytes(a, splits);
    return PSK_OK;
}

PSK_API int32_t psk_paged_decode(const psk_paged_args* a) {
    clear_error();
    if (a == nullptr || a->q == nullptr || a->out == nullptr || a->k_cache == nullptr || a->v_cache == nullptr || a->block_table == nullptr ||
        a->seqlens == nullptr) {
        return fail(PSK_ERR_NULL_POINTER, "paged_decode: a required pointer is null");
    }
    int32_t rc = check(a);
    if (rc != PSK_OK) { return rc; }
    if ((reinterpret_cast<uintptr_t>(a->k_cache) | reinterpret_cast<uintptr_t>(a->v_cache)) % 16 != 0) {
        return fail(PSK_ERR_SHAPE, "paged_decode: the K and V pools must be 16-byte aligned");
    }
    int device = 0;
    rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    int splits = 1, split_tokens = 0;
    plan(a, device, &splits, &split_tokens);
    const int64_t need = workspace_bytes(a, splits);
    if (need > 0 && (a->workspace == nullptr || a->workspace_bytes < need || reinterpret_cast<uintptr_t>(a->workspace) % 16 != 0)) {
        return fail(PSK_ERR_SHAPE, "paged_decode: %d splits need a 16-byte aligned workspace of %lld bytes (%lld given)", splits, (long long)need,
                    (long long)a->workspace_bytes);
    }
    cudaStream_t s = static_cast<cudaStream_t>(a->stream);
    cudaError_t e = a->dtype == PSK_DTYPE_BF16 ? launch_groups<__nv_bfloat16>(a, splits, split_tokens, s)
                                               : launch_groups<__half>(a, splits, split_tokens, s);
    return launched("paged_decode", e);
}

}  // extern "C"
