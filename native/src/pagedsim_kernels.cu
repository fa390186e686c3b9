// The fused kernels of pagedsim_kernels.h. Each replaces a run of PyTorch operations that would each be a launch
// (and, from .NET, a P/Invoke and a tensor wrapper): the per-layer launch count is what bounds a decode step.

#include "pagedsim_kernels.h"

#include "pdl.cuh"
#include "skinny_gemm.cuh"
#include "wgmma_gemm.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <dlfcn.h>
#include <library_types.h>

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <new>

namespace {

thread_local char t_last_error[512] = "";

constexpr int kMaxDevices = 64;  // per-device state below is kept in arrays of this size

int32_t fail(psk_status status, const char* format, ...) {
    va_list list;
    va_start(list, format);
    std::vsnprintf(t_last_error, sizeof t_last_error, format, list);
    va_end(list);
    return status;
}

// The current CUDA device, checked against the per-device arrays.
int32_t current_device(int* device) {
    cudaError_t e = cudaGetDevice(device);
    if (e != cudaSuccess) { return fail(PSK_ERR_CUDA, "cudaGetDevice: %s", cudaGetErrorString(e)); }
    return *device >= 0 && *device < kMaxDevices ? PSK_OK : fail(PSK_ERR_CUDA, "device %d out of range", *device);
}

int32_t launched(const char* kernel, cudaError_t e) {
    if (e == cudaSuccess) { e = cudaGetLastError(); }
    return e == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "%s: %s", kernel, cudaGetErrorString(e));
}

using psk_device::allow_next_launch;  // programmatic dependent launch: pdl.cuh says how the kernels use it
using psk_device::wait_for_previous;

bool programmatic_launch(int device) {
    static int major[kMaxDevices] = {};  // 0 = not queried yet; a benign race (same value written)
    if (device < 0 || device >= kMaxDevices) { return false; }
    if (major[device] == 0 && cudaDeviceGetAttribute(&major[device], cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) { return false; }
    return major[device] >= 9;
}

// kernel<<<grid, block, 0, s>>>(args...), allowed to start before the previous kernel in s ends where the GPU can.
template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.stream = s;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    int device = 0;
    if (cudaGetDevice(&device) == cudaSuccess && programmatic_launch(device)) {
        config.attrs = attribute;
        config.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

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

// y[m, n] = sum_k x[m, k] * w[n, k] for a few rows m (decode): one warp per output column n streams row n of w
// once in 16-byte loads and keeps every x row's partial sum, so the weights are read once at full bandwidth.
template <typename T, int M>
__global__ void gemv_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int n_out, int k_in, bool early_weights) {
    allow_next_launch();
    if (!early_weights) { wait_for_previous(); }  // the previous kernel may have written w
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int n = blockIdx.x * (blockDim.x / 32) + warp;
    const bool active = n < n_out;
    const uint4* wrow = reinterpret_cast<const uint4*>(w + size_t(active ? n : 0) * k_in);
    const int vectors = k_in / 8;  // 8 elements per 16 bytes
    constexpr int kUnroll = 4, kStep = 32 * kUnroll;
    // With early_weights the caller knows the previous kernel did not write w (the layer loop): the first loads go out
    // before waiting for it. Each iteration loads the next one's weights before computing its own.
    uint4 wv[kUnroll];
    int v = lane;
    if (active && v + 32 * (kUnroll - 1) < vectors) {
#pragma unroll
        for (int u = 0; u < kUnroll; u++) { wv[u] = __ldg(wrow + v + 32 * u); }
    }
    if (early_weights) { wait_for_previous(); }
    if (!active) { return; }
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; m++) { acc[m] = 0.f; }
    for (; v + 32 * (kUnroll - 1) < vectors; v += kStep) {
        uint4 current[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) { current[u] = wv[u]; }
        if (v + kStep + 32 * (kUnroll - 1) < vectors) {
#pragma unroll
            for (int u = 0; u < kUnroll; u++) { wv[u] = __ldg(wrow + v + kStep + 32 * u); }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const T* we = reinterpret_cast<const T*>(&current[u]);
#pragma unroll
            for (int m = 0; m < M; m++) {
                uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + size_t(m) * k_in) + v + 32 * u);
                const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
                for (int e = 0; e < 8; e++) { acc[m] += to_float(we[e]) * to_float(xe[e]); }
            }
        }
    }
    for (; v < vectors; v += 32) {
        uint4 wt = __ldg(wrow + v);
        const T* we = reinterpret_cast<const T*>(&wt);
#pragma unroll
        for (int m = 0; m < M; m++) {
            uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + size_t(m) * k_in) + v);
            const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
            for (int e = 0; e < 8; e++) { acc[m] += to_float(we[e]) * to_float(xe[e]); }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        float sum = acc[m];
        for (int offset = 16; offset > 0; offset >>= 1) { sum += __shfl_xor_sync(0xffffffffu, sum, offset); }
        if (lane == 0) { y[size_t(m) * n_out + n] = from_float<T>(sum); }
    }
}

template <typename T>
cudaError_t launch_gemv(const T* x, const T* w, T* y, int rows, int n_out, int k_in, bool early_weights, cudaStream_t s) {
    constexpr int kWarps = 8;
    dim3 grid{static_cast<unsigned>((n_out + kWarps - 1) / kWarps)}, block{32 * kWarps};
    switch (rows) {
        case 1: return launch(gemv_kernel<T, 1>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 2: return launch(gemv_kernel<T, 2>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 3: return launch(gemv_kernel<T, 3>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 4: return launch(gemv_kernel<T, 4>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 5: return launch(gemv_kernel<T, 5>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 6: return launch(gemv_kernel<T, 6>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        case 7: return launch(gemv_kernel<T, 7>, grid, block, s, x, w, y, n_out, k_in, early_weights);
        default: return launch(gemv_kernel<T, 8>, grid, block, s, x, w, y, n_out, k_in, early_weights);
    }
}

// Rows 2..kSkinnyMaxRows of the layer loop's matmuls run skinny_gemm.cuh's kernel on compute capability 9.0+ (it
// splits k across a thread-block cluster). Chained with programmatic dependent launch it takes 3-4% off an H100 decode
// step at 2-8 rows (docs/runner.md).
constexpr int kSkinnyMaxRows = 8;
constexpr int kSkinnyWarps = 8, kSkinnyStages = 3, kSkinnySub = 2;  // the best shape measured on the H100

int multiprocessors(int device) {
    static int count[kMaxDevices] = {};  // 0 = not queried yet; a benign race (same value written)
    if (device < 0 || device >= kMaxDevices) { return 0; }
    if (count[device] == 0 && cudaDeviceGetAttribute(&count[device], cudaDevAttrMultiProcessorCount, device) != cudaSuccess) { return 0; }
    return count[device];
}

// Whether the skinny kernel takes this matmul on `device` (the current one).
bool skinny_applies(int device, int rows, int n_out, int k_in, const void* x, const void* w) {
    return rows >= 2 && rows <= kSkinnyMaxRows && n_out % 16 == 0 && k_in % (2 * 64 * kSkinnySub) == 0 &&
           (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16 == 0 && programmatic_launch(device) &&
           multiprocessors(device) > 0;
}

// Splits of k: about 1.5 blocks per multiprocessor (the best measured on the H100, chained with programmatic
// dependent launch), at least 2 (one split, chained that way, measured up to 13% slower), at most 8 (a portable
// cluster), and at least two stages of k per block.
int skinny_splits(int n_out, int k_in, int sms) {
    const int groups = (n_out + kSkinnyWarps * 16 - 1) / (kSkinnyWarps * 16), stages = k_in / (64 * kSkinnySub);
    int splits = (3 * sms + groups) / (2 * groups);
    if (splits < 2) { splits = 2; }
    if (splits > 8) { splits = 8; }
    if (splits > stages / 2) { splits = stages / 2; }
    return splits < 1 ? 1 : splits;
}

template <typename T>
cudaError_t launch_skinny_rows(int device, const T* x, const T* w, T* y, int rows, int n_out, int k_in, bool early_weights, cudaStream_t s) {
    static_assert(kSkinnyMaxRows <= 8, "one n8 tile of rows");
    const int splits = skinny_splits(n_out, k_in, multiprocessors(device));
    return psk_skinny::launch_skinny<T, 1, 1, kSkinnyWarps, 1, kSkinnyStages, kSkinnySub>(device, x, w, y, rows, n_out, k_in, splits, early_weights, true, s);
}

// The skinny matmul where skinny_applies; early_weights as skinny_gemm_kernel takes it.
int32_t skinny(int device, int32_t dtype, const void* x, const void* w, void* y, int rows, int n_out, int k_in, bool early_weights, cudaStream_t s) {
    cudaError_t e = dtype == PSK_DTYPE_BF16
        ? launch_skinny_rows(device, static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w), static_cast<__nv_bfloat16*>(y), rows, n_out, k_in, early_weights, s)
        : launch_skinny_rows(device, static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<__half*>(y), rows, n_out, k_in, early_weights, s);
    return launched("skinny matmul", e);
}

// Rows kSkinnyMaxRows + 1 .. kWgmmaMaxRows run wgmma_gemm.cuh's kernel (TMA and wgmma) on compute capability 9.0 when
// the library was built for sm_90a (PSK_HAVE_SM90A); cuBLAS otherwise. Its shape, as measured on the H100
// (docs/runner.md): one m64 tile of columns a block and 10 stages (8: 0.02 ms more a 49-row step, 6: 0.14), or for
// wide matrices (at least 3 x 64 columns per multiprocessor) two tiles and 4 stages; k split so the blocks about fill
// the GPU once.
constexpr int kWgmmaMaxRows = 64;
constexpr int kWideTiles = 2, kWideStages = 4, kNarrowTiles = 1, kNarrowStages = 10;

int compute_capability(int device) {
    static int version[kMaxDevices] = {};  // major * 10 + minor; 0 = not queried yet (a benign race)
    if (device < 0 || device >= kMaxDevices) { return 0; }
    if (version[device] == 0) {
        int major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
            return 0;
        }
        version[device] = major * 10 + minor;
    }
    return version[device];
}

// Whether the wgmma kernel takes this matmul on `device` (the current one).
bool wgmma_applies(int device, int rows, int n_out, int k_in, const void* x, const void* w) {
#ifdef PSK_HAVE_SM90A
    return rows > kSkinnyMaxRows && rows <= kWgmmaMaxRows && n_out % 16 == 0 && k_in % 64 == 0 &&
           (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16 == 0 && compute_capability(device) == 90 &&
           multiprocessors(device) > 0 && psk_wgmma::encode_tiled() != nullptr;
#else
    (void)device; (void)rows; (void)n_out; (void)k_in; (void)x; (void)w;
    return false;
#endif
}

// Wide matrices get two m64 tiles a block (and then have at least 1.5 blocks a multiprocessor: one split of k).
bool wgmma_wide(int device, int n_out) { return n_out >= 3 * 64 * multiprocessors(device); }

// Whether the feed-forward layer's gate/up matmul (w13, [2 * hidden, k_in]) and its SiLU·mul run as one wgmma kernel:
// from 33 rows (on the H100 at 49 and 64 rows a decode step took 0.21 ms less; at 16 and 32, 0.1 ms more).
constexpr int kGatedMinRows = 33;
constexpr int kRopeMinRows = 9;  // the qkv matmul with RoPE + cache write: at every row count of the wgmma kernel (0.02-0.05 ms)

bool wgmma_gated_applies(int device, int rows, int hidden, int k_in, const void* x, const void* w13) {
    return rows >= kGatedMinRows && hidden % 64 == 0 && wgmma_applies(device, rows, 2 * hidden, k_in, x, w13) && wgmma_wide(device, 2 * hidden);
}

// Splits of k: enough blocks to about fill the GPU once (at most 8, a portable cluster; at least two stages a split).
int wgmma_splits(int device, int n_out, int k_in) {
    const int tiles = wgmma_wide(device, n_out) ? kWideTiles : kNarrowTiles, groups = (n_out + 64 * tiles - 1) / (64 * tiles);
    int splits = multiprocessors(device) / groups;
    if (splits > 8) { splits = 8; }
    if (splits > k_in / 64 / 2) { splits = k_in / 64 / 2; }
    return splits < 1 ? 1 : splits;
}

// Whether the qkv matmul and RoPE + cache write run as one wgmma kernel: the narrow shape with one split of k, and
// heads whose pairs (2i, 2i + 1) never straddle a block's 64 columns.
bool wgmma_rope_applies(int device, int rows, int qkv_width, int k_in, int head_dim, const void* x, const void* wqkv) {
    return rows >= kRopeMinRows && head_dim % 2 == 0 && wgmma_applies(device, rows, qkv_width, k_in, x, wqkv) && !wgmma_wide(device, qkv_width) &&
           wgmma_splits(device, qkv_width, k_in) == 1;
}

// kGated: y [rows, n_out] = SiLU·mul of w [2 n_out, k_in] (wgmma_gated_applies holds); kRope: RoPE and the cache
// write as `rope` says (wgmma_rope_applies holds).
template <typename T, int MT, psk_wgmma::Epilogue EPILOGUE>
cudaError_t launch_wgmma_mt(int device, const T* x, const T* w, T* y, int rows, int n_out, int k_in, bool early_weights, cudaStream_t s,
                            psk_wgmma::RopeTargets rope) {
    using psk_wgmma::Epilogue;
    if constexpr (EPILOGUE == Epilogue::kGated) {
        return psk_wgmma::launch_wgmma<T, MT, kWideTiles, kWideStages, 1, Epilogue::kGated>(device, x, w, y, rows, n_out, k_in, 1, early_weights, true, s);
    } else if constexpr (EPILOGUE == Epilogue::kRope) {
        return psk_wgmma::launch_wgmma<T, MT, kNarrowTiles, kNarrowStages, 1, Epilogue::kRope>(device, x, w, y, rows, n_out, k_in, 1, early_weights, true, s, rope);
    } else {
        const int splits = wgmma_splits(device, n_out, k_in);
        return wgmma_wide(device, n_out)
            ? psk_wgmma::launch_wgmma<T, MT, kWideTiles, kWideStages, 1>(device, x, w, y, rows, n_out, k_in, splits, early_weights, true, s)
            : psk_wgmma::launch_wgmma<T, MT, kNarrowTiles, kNarrowStages, 1>(device, x, w, y, rows, n_out, k_in, splits, early_weights, true, s);
    }
}

template <typename T, psk_wgmma::Epilogue EPILOGUE>
cudaError_t launch_wgmma_rows(int device, const T* x, const T* w, T* y, int rows, int n_out, int k_in, bool early_weights, cudaStream_t s,
                              psk_wgmma::RopeTargets rope) {
    static_assert(kSkinnyMaxRows == 8 && kWgmmaMaxRows == 64, "wgmma's N from 16 to 64");
    switch ((rows + 7) / 8) {
        case 2: return launch_wgmma_mt<T, 2, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
        case 3: return launch_wgmma_mt<T, 3, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
        case 4: return launch_wgmma_mt<T, 4, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
        case 5: return launch_wgmma_mt<T, 5, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
        case 6: return launch_wgmma_mt<T, 6, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
        case 7: return launch_wgmma_mt<T, 7, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
        default: return launch_wgmma_mt<T, 8, EPILOGUE>(device, x, w, y, rows, n_out, k_in, early_weights, s, rope);
    }
}

template <typename T>
cudaError_t launch_wgmma_epilogue(int device, const void* x, const void* w, void* y, int rows, int n_out, int k_in, bool early_weights,
                                  psk_wgmma::Epilogue epilogue, cudaStream_t s, psk_wgmma::RopeTargets rope) {
    using psk_wgmma::Epilogue;
    const T *xt = static_cast<const T*>(x), *wt = static_cast<const T*>(w);
    T* yt = static_cast<T*>(y);
    switch (epilogue) {
        case Epilogue::kGated: return launch_wgmma_rows<T, Epilogue::kGated>(device, xt, wt, yt, rows, n_out, k_in, early_weights, s, rope);
        case Epilogue::kRope: return launch_wgmma_rows<T, Epilogue::kRope>(device, xt, wt, yt, rows, n_out, k_in, early_weights, s, rope);
        default: return launch_wgmma_rows<T, Epilogue::kStore>(device, xt, wt, yt, rows, n_out, k_in, early_weights, s, rope);
    }
}

// The wgmma matmul where wgmma_applies, with the epilogue the caller checked (wgmma_gated_applies: y = SiLU·mul of
// x . w^T, n_out the hidden size; wgmma_rope_applies: RoPE and the cache write as `rope` says); early_weights as
// wgmma_gemm_kernel takes it.
int32_t wgmma(int device, int32_t dtype, const void* x, const void* w, void* y, int rows, int n_out, int k_in, bool early_weights,
              psk_wgmma::Epilogue epilogue, cudaStream_t s, psk_wgmma::RopeTargets rope = {}) {
    using psk_wgmma::Epilogue;
    cudaError_t e = dtype == PSK_DTYPE_BF16
        ? launch_wgmma_epilogue<__nv_bfloat16>(device, x, w, y, rows, n_out, k_in, early_weights, epilogue, s, rope)
        : launch_wgmma_epilogue<__half>(device, x, w, y, rows, n_out, k_in, early_weights, epilogue, s, rope);
    return launched(epilogue == Epilogue::kGated ? "wgmma gate/up matmul" : epilogue == Epilogue::kRope ? "wgmma qkv matmul" : "wgmma matmul", e);
}

// cuBLAS through the library the process already holds (PyTorch links it): no link-time dependency, and no second
// copy of cuBLAS in the process. Only the few entry points and enum values used here are declared.
typedef int (*cublas_create_fn)(void**);
typedef int (*cublas_set_stream_fn)(void*, cudaStream_t);
typedef int (*cublas_set_workspace_fn)(void*, void*, size_t);
typedef int (*cublas_gemm_ex_fn)(void*, int, int, int, int, int, const void*, const void*, cudaDataType, int, const void*,
                                 cudaDataType, int, const void*, void*, cudaDataType, int, int, int);
constexpr int kCublasOpN = 0, kCublasOpT = 1, kCublasCompute32F = 68, kCublasGemmDefault = -1;

struct Cublas {
    cublas_create_fn create = nullptr;
    cublas_set_stream_fn set_stream = nullptr;
    cublas_set_workspace_fn set_workspace = nullptr;  // optional (cuBLAS 11.0+)
    cublas_gemm_ex_fn gemm_ex = nullptr;
    const char* error = nullptr;
};

const Cublas& cublas() {
    static const Cublas loaded = [] {
        Cublas c;
        void* lib = nullptr;
        for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}) {
            lib = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
            if (lib == nullptr) { lib = dlopen(name, RTLD_NOW | RTLD_LOCAL); }
            if (lib != nullptr) { break; }
        }
        if (lib == nullptr) { c.error = "libcublas.so (13, 12 or 11) is neither loaded nor loadable"; return c; }
        c.create = reinterpret_cast<cublas_create_fn>(dlsym(lib, "cublasCreate_v2"));
        c.set_stream = reinterpret_cast<cublas_set_stream_fn>(dlsym(lib, "cublasSetStream_v2"));
        c.set_workspace = reinterpret_cast<cublas_set_workspace_fn>(dlsym(lib, "cublasSetWorkspace_v2"));
        c.gemm_ex = reinterpret_cast<cublas_gemm_ex_fn>(dlsym(lib, "cublasGemmEx"));
        if (c.create == nullptr || c.set_stream == nullptr || c.gemm_ex == nullptr) { c.error = "libcublas lacks cublasCreate_v2, cublasSetStream_v2 or cublasGemmEx"; }
        return c;
    }();
    return loaded;
}

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


int block_threads(int64_t work) {
    int64_t threads = (work + 31) / 32 * 32;
    return int(threads < 32 ? 32 : threads > 1024 ? 1024 : threads);
}

bool valid_dtype(int32_t dtype) { return dtype == PSK_DTYPE_FP16 || dtype == PSK_DTYPE_BF16; }

// psk_gemv, with early_weights as gemv_kernel takes it.
int32_t gemv(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, bool early_weights, cudaStream_t s) {
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (x == nullptr || w == nullptr || y == nullptr) { return fail(PSK_ERR_NULL_POINTER, "gemv: x, w or y is null"); }
    if (rows < 1 || rows > PSK_GEMV_MAX_ROWS || n_out <= 0 || k_in <= 0 || k_in % 8 != 0 ||
        (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16 != 0) {
        return fail(PSK_ERR_SHAPE, "gemv: rows %d (1..%d), n_out %d, k_in %d (a multiple of 8), x and w 16-byte aligned",
                    rows, PSK_GEMV_MAX_ROWS, n_out, k_in);
    }
    cudaError_t e = dtype == PSK_DTYPE_BF16
        ? launch_gemv(static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w), static_cast<__nv_bfloat16*>(y), rows, n_out, k_in, early_weights, s)
        : launch_gemv(static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<__half*>(y), rows, n_out, k_in, early_weights, s);
    return launched("gemv", e);
}

}  // namespace

// A captured pass and the input buffers it reads.
struct psk_graph {
    cudaGraphExec_t exec;
    void* residual;
    int64_t* positions;
    int64_t* slots;
    int32_t* seqlens;
    int32_t* block_table;
    int64_t block_table_stride;
    int32_t tokens, batch;
    size_t residual_bytes;
};

extern "C" {

PSK_API int32_t psk_abi_version(void) { return PSK_ABI_VERSION; }

PSK_API const char* psk_last_error(void) { return t_last_error; }

PSK_API int32_t psk_add_rmsnorm(int32_t dtype, void* residual, const void* delta, const void* weight, void* out,
                                int64_t rows, int32_t dim, float eps, void* stream) {
    t_last_error[0] = '\0';
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

PSK_API int32_t psk_rope_kv_write(int32_t dtype, const void* qkv, int64_t qkv_row_stride, const int64_t* positions,
                                  const int64_t* slots, const float* rope, int64_t tokens, int32_t heads,
                                  int32_t kv_heads, int32_t head_dim, void* q_out, void* k_cache, void* v_cache,
                                  void* stream) {
    t_last_error[0] = '\0';
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

PSK_API int32_t psk_silu_mul(int32_t dtype, const void* gate_up, void* out, int64_t rows, int32_t hidden, void* stream) {
    t_last_error[0] = '\0';
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

PSK_API int32_t psk_argmax(int32_t dtype, const void* logits, int64_t rows, int32_t vocab, int64_t* ids, void* stream) {
    t_last_error[0] = '\0';
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

PSK_API int32_t psk_gemv(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, void* stream) {
    t_last_error[0] = '\0';
    return gemv(dtype, x, w, y, rows, n_out, k_in, false, static_cast<cudaStream_t>(stream));
}

PSK_API int32_t psk_linear(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, void* stream) {
    t_last_error[0] = '\0';
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (x == nullptr || w == nullptr || y == nullptr) { return fail(PSK_ERR_NULL_POINTER, "linear: x, w or y is null"); }
    if (rows < 1 || n_out <= 0 || k_in <= 0) { return fail(PSK_ERR_SHAPE, "linear: rows %d, n_out %d, k_in %d", rows, n_out, k_in); }
    int device = 0;
    int32_t rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    return linear(nullptr, device, dtype, x, w, y, rows, n_out, k_in, false, static_cast<cudaStream_t>(stream));  // w may be freshly written
}

PSK_API int32_t psk_qkv_rope_kv_write(int32_t dtype, const void* x, const void* wqkv, void* qkv, const int64_t* positions, const int64_t* slots,
                                      const float* rope, int32_t tokens, int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t k_in,
                                      void* q_out, void* k_cache, void* v_cache, void* stream) {
    t_last_error[0] = '\0';
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (x == nullptr || wqkv == nullptr || qkv == nullptr || positions == nullptr || slots == nullptr || rope == nullptr || q_out == nullptr ||
        k_cache == nullptr || v_cache == nullptr) {
        return fail(PSK_ERR_NULL_POINTER, "qkv_rope_kv_write: a pointer is null");
    }
    if (tokens <= 0 || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || k_in <= 0 ||
        int64_t(heads + 2 * kv_heads) * head_dim > 0x7fffffff) {
        return fail(PSK_ERR_SHAPE, "qkv_rope_kv_write: tokens %d, heads %d, kv_heads %d, head_dim %d, k_in %d", tokens, heads, kv_heads, head_dim, k_in);
    }
    int device = 0;
    int32_t rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    return qkv_rope(nullptr, device, dtype, x, wqkv, qkv, positions, slots, rope, tokens, heads, kv_heads, head_dim, k_in, q_out, k_cache, v_cache,
                    false, static_cast<cudaStream_t>(stream));  // wqkv may be freshly written
}

PSK_API int32_t psk_gate_up_silu(int32_t dtype, const void* x, const void* w13, void* gate_up, void* act, int32_t rows, int32_t hidden,
                                 int32_t k_in, void* stream) {
    t_last_error[0] = '\0';
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (x == nullptr || w13 == nullptr || gate_up == nullptr || act == nullptr) { return fail(PSK_ERR_NULL_POINTER, "gate_up_silu: a pointer is null"); }
    if (rows < 1 || hidden <= 0 || k_in <= 0 || hidden > 0x3fffffff) { return fail(PSK_ERR_SHAPE, "gate_up_silu: rows %d, hidden %d, k_in %d", rows, hidden, k_in); }
    int device = 0;
    int32_t rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    return gate_up_silu(nullptr, device, dtype, x, w13, gate_up, act, rows, hidden, k_in, false, static_cast<cudaStream_t>(stream));  // w13 may be freshly written
}

PSK_API int32_t psk_forward_args_size(void) { return int32_t(sizeof(psk_forward_args)); }

PSK_API int32_t psk_forward_layers(const psk_forward_args* a) {
    t_last_error[0] = '\0';
    if (a == nullptr || a->layer == nullptr || a->final_norm == nullptr || a->residual == nullptr || a->normed == nullptr ||
        a->qkv == nullptr || a->q == nullptr || a->attn == nullptr || a->delta == nullptr || a->gate_up == nullptr ||
        a->act == nullptr || a->positions == nullptr || a->slots == nullptr || a->rope == nullptr) {
        return fail(PSK_ERR_NULL_POINTER, "forward_layers: a required pointer is null");
    }
    if (a->tokens <= 0 || a->layers <= 0 || a->dim <= 0 || a->hidden <= 0 || a->dim % 8 != 0 || a->hidden % 8 != 0 ||
        a->attention.q != a->q || a->attention.out != a->attn || a->attention.batch * a->attention.seqlen_q != a->tokens) {
        return fail(PSK_ERR_SHAPE, "forward_layers: tokens %d, layers %d, dim %d, hidden %d (multiples of 8); the attention call must read q and write attn for every token",
                    a->tokens, a->layers, a->dim, a->hidden);
    }
    cudaStream_t s = static_cast<cudaStream_t>(a->stream);
    const int q_width = a->heads * a->head_dim;
    psf_fwd_args attention = a->attention;
    int32_t rc = PSK_OK;
#define PSK_STEP(expr) do { rc = (expr); if (rc != PSK_OK) return rc; } while (0)
    int device = 0;  // one lookup for the pass
    PSK_STEP(current_device(&device));
    void* handle = nullptr;  // one row needs no cuBLAS; for more, one handle serves every matmul of the pass
    if (a->tokens > 1) { PSK_STEP(cublas_handle(device, s, &handle)); }
    for (int l = 0; l < a->layers; l++) {
        const psk_layer& w = a->layer[l];
        PSK_STEP(psk_add_rmsnorm(a->dtype, a->residual, l == 0 ? nullptr : a->delta, w.attention_norm, a->normed, a->tokens, a->dim, a->norm_eps, s));
        PSK_STEP(qkv_rope(handle, device, a->dtype, a->normed, w.wqkv, a->qkv, a->positions, a->slots, a->rope, a->tokens, a->heads, a->kv_heads,
                          a->head_dim, a->dim, a->q, w.k_cache, w.v_cache, true, s));
        attention.k = w.k_cache;
        attention.v = w.v_cache;
        int32_t st = a->paged ? psf_fwd_paged(&attention) : psf_fwd_contiguous(&attention);
        if (st != PSF_OK) { return fail(PSK_ERR_ATTENTION, "layer %d attention: %s", l, psf_last_error()); }
        PSK_STEP(linear(handle, device, a->dtype, a->attn, w.wo, a->delta, a->tokens, a->dim, q_width, true, s));
        PSK_STEP(psk_add_rmsnorm(a->dtype, a->residual, a->delta, w.ffn_norm, a->normed, a->tokens, a->dim, a->norm_eps, s));
        PSK_STEP(gate_up_silu(handle, device, a->dtype, a->normed, w.w13, a->gate_up, a->act, a->tokens, a->hidden, a->dim, true, s));
        PSK_STEP(linear(handle, device, a->dtype, a->act, w.w2, a->delta, a->tokens, a->dim, a->hidden, true, s));
    }
    PSK_STEP(psk_add_rmsnorm(a->dtype, a->residual, a->delta, a->final_norm, a->normed, a->tokens, a->dim, a->norm_eps, s));
#undef PSK_STEP
    return PSK_OK;
}

PSK_API int32_t psk_graph_capture(const psk_forward_args* a, psk_graph** graph) {
    t_last_error[0] = '\0';
    if (a == nullptr || graph == nullptr) { return fail(PSK_ERR_NULL_POINTER, "graph_capture: args or graph is null"); }
    *graph = nullptr;
    if (a->attention.seqlens_k == nullptr || (a->paged && a->attention.block_table == nullptr)) {
        return fail(PSK_ERR_NULL_POINTER, "graph_capture: the attention call's sequence lengths (or paged block table) are null");
    }
    // Capture needs a stream other than the legacy default one: one per thread and device, created once.
    thread_local cudaStream_t streams[kMaxDevices] = {};
    int device = 0;
    int32_t rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    if (streams[device] == nullptr) {
        cudaError_t e = cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking);
        if (e != cudaSuccess) { return fail(PSK_ERR_CUDA, "creating the capture stream: %s", cudaGetErrorString(e)); }
    }
    psk_forward_args captured = *a;
    captured.stream = streams[device];
    captured.attention.stream = streams[device];
    cudaError_t e = cudaStreamBeginCapture(streams[device], cudaStreamCaptureModeRelaxed);
    if (e != cudaSuccess) { return fail(PSK_ERR_CUDA, "beginning the capture: %s", cudaGetErrorString(e)); }
    rc = psk_forward_layers(&captured);
    cudaGraph_t recorded = nullptr;
    e = cudaStreamEndCapture(streams[device], &recorded);  // always, so the stream leaves capture mode
    cudaGetLastError();                                     // a failed capture leaves its error behind
    if (rc != PSK_OK || e != cudaSuccess) {
        if (recorded != nullptr) { cudaGraphDestroy(recorded); }
        return rc != PSK_OK ? rc : fail(PSK_ERR_CUDA, "capturing the forward pass: %s", cudaGetErrorString(e));
    }
    cudaGraphExec_t exec = nullptr;
    e = cudaGraphInstantiateWithFlags(&exec, recorded, 0);
    cudaGraphDestroy(recorded);
    if (e != cudaSuccess) { return fail(PSK_ERR_CUDA, "instantiating the captured graph: %s", cudaGetErrorString(e)); }
    psk_graph* g = new (std::nothrow) psk_graph{};
    if (g == nullptr) {
        cudaGraphExecDestroy(exec);
        return fail(PSK_ERR_CUDA, "out of host memory");
    }
    g->exec = exec;
    g->residual = a->residual;
    g->positions = const_cast<int64_t*>(a->positions);
    g->slots = const_cast<int64_t*>(a->slots);
    g->seqlens = const_cast<int32_t*>(a->attention.seqlens_k);
    g->block_table = const_cast<int32_t*>(a->attention.block_table);
    g->block_table_stride = a->attention.block_table_stride;
    g->tokens = a->tokens;
    g->batch = a->attention.batch;
    g->residual_bytes = size_t(a->tokens) * a->dim * 2;  // fp16 and bf16 alike
    *graph = g;
    return PSK_OK;
}

PSK_API int32_t psk_graph_launch(const psk_graph* g, const void* residual, const int64_t* positions, const int64_t* slots,
                                 const int32_t* seqlens, const int32_t* block_table, int32_t block_table_columns, void* stream) {
    t_last_error[0] = '\0';
    if (g == nullptr || residual == nullptr || positions == nullptr || slots == nullptr || seqlens == nullptr ||
        (g->block_table != nullptr && block_table == nullptr)) {
        return fail(PSK_ERR_NULL_POINTER, "graph_launch: the graph or an input is null");
    }
    if (g->block_table != nullptr && (block_table_columns < 1 || block_table_columns > g->block_table_stride)) {
        return fail(PSK_ERR_SHAPE, "graph_launch: the block table has %d columns; the graph holds 1 to %lld", block_table_columns,
                    (long long)g->block_table_stride);
    }
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const cudaMemcpyKind d2d = cudaMemcpyDeviceToDevice;
    cudaError_t e = residual == g->residual ? cudaSuccess : cudaMemcpyAsync(g->residual, residual, g->residual_bytes, d2d, s);
    if (e == cudaSuccess) { e = cudaMemcpyAsync(g->positions, positions, sizeof(int64_t) * g->tokens, d2d, s); }
    if (e == cudaSuccess) { e = cudaMemcpyAsync(g->slots, slots, sizeof(int64_t) * g->tokens, d2d, s); }
    if (e == cudaSuccess) { e = cudaMemcpyAsync(g->seqlens, seqlens, sizeof(int32_t) * g->batch, d2d, s); }
    if (e == cudaSuccess && g->block_table != nullptr) {
        // Columns past the given ones keep older ids: the kernel reads only the blocks each length reaches.
        e = cudaMemcpy2DAsync(g->block_table, sizeof(int32_t) * g->block_table_stride, block_table, sizeof(int32_t) * block_table_columns,
                              sizeof(int32_t) * block_table_columns, g->batch, d2d, s);
    }
    if (e == cudaSuccess) { e = cudaGraphLaunch(g->exec, s); }
    return e == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "graph_launch: %s", cudaGetErrorString(e));
}

PSK_API void psk_graph_destroy(psk_graph* g) {
    if (g == nullptr) { return; }
    cudaGraphExecDestroy(g->exec);
    delete g;
}

PSK_API int32_t psk_event_create(void** event) {
    t_last_error[0] = '\0';
    if (event == nullptr) { return fail(PSK_ERR_NULL_POINTER, "event_create: event is null"); }
    cudaEvent_t e = nullptr;
    cudaError_t st = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    *event = e;
    return st == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "event_create: %s", cudaGetErrorString(st));
}

PSK_API int32_t psk_event_record(void* event, void* stream) {
    t_last_error[0] = '\0';
    if (event == nullptr) { return fail(PSK_ERR_NULL_POINTER, "event_record: event is null"); }
    cudaError_t st = cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream));
    return st == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "event_record: %s", cudaGetErrorString(st));
}

PSK_API int32_t psk_event_synchronize(void* event) {
    t_last_error[0] = '\0';
    if (event == nullptr) { return fail(PSK_ERR_NULL_POINTER, "event_synchronize: event is null"); }
    cudaError_t st = cudaEventSynchronize(static_cast<cudaEvent_t>(event));
    return st == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "event_synchronize: %s", cudaGetErrorString(st));
}

PSK_API void psk_event_destroy(void* event) {
    if (event != nullptr) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }
}

}  // extern "C"

namespace {

constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;  // what PyTorch gives cuBLAS on Hopper

int32_t cublas_handle(int device, cudaStream_t s, void** handle) {
    const Cublas& c = cublas();
    if (c.error != nullptr) { return fail(PSK_ERR_CUBLAS, "%s", c.error); }
    // One handle per thread and device, as cuBLAS requires; created on first use, kept for the process.
    thread_local void* handles[kMaxDevices] = {};
    thread_local void* workspaces[kMaxDevices] = {};
    if (handles[device] == nullptr && c.create(&handles[device]) != 0) { return fail(PSK_ERR_CUBLAS, "cublasCreate failed on device %d", device); }
    if (c.set_workspace != nullptr && workspaces[device] == nullptr) {
        cudaError_t e = cudaMalloc(&workspaces[device], kCublasWorkspaceBytes);
        if (e != cudaSuccess) { return fail(PSK_ERR_CUDA, "allocating the cuBLAS workspace (%zu MiB): %s", kCublasWorkspaceBytes >> 20, cudaGetErrorString(e)); }
    }
    // cublasSetStream resets the workspace to cuBLAS's own: set it after.
    if (c.set_stream(handles[device], s) != 0) { return fail(PSK_ERR_CUBLAS, "cublasSetStream failed"); }
    if (c.set_workspace != nullptr && c.set_workspace(handles[device], workspaces[device], kCublasWorkspaceBytes) != 0) {
        return fail(PSK_ERR_CUBLAS, "cublasSetWorkspace failed");
    }
    *handle = handles[device];
    return PSK_OK;
}

int32_t linear(void* handle, int device, int32_t dtype, const void* x, const void* w, void* y, int rows, int n_out, int k_in, bool early_weights,
               cudaStream_t s) {
    if (rows <= 1) { return gemv(dtype, x, w, y, rows, n_out, k_in, early_weights, s); }
    if (rows <= kWgmmaMaxRows) {
        if (skinny_applies(device, rows, n_out, k_in, x, w)) { return skinny(device, dtype, x, w, y, rows, n_out, k_in, early_weights, s); }
        if (wgmma_applies(device, rows, n_out, k_in, x, w)) { return wgmma(device, dtype, x, w, y, rows, n_out, k_in, early_weights, psk_wgmma::Epilogue::kStore, s); }
    }
    if (handle == nullptr) {
        int32_t rc = cublas_handle(device, s, &handle);
        if (rc != PSK_OK) { return rc; }
    }
    const float alpha = 1.f, beta = 0.f;
    cudaDataType type = dtype == PSK_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    int st = cublas().gemm_ex(handle, kCublasOpT, kCublasOpN, n_out, rows, k_in, &alpha, w, type, k_in, x, type, k_in, &beta, y, type, n_out,
                              kCublasCompute32F, kCublasGemmDefault);
    return st == 0 ? PSK_OK : fail(PSK_ERR_CUBLAS, "cublasGemmEx failed (status %d) for [%d, %d] x [%d, %d]^T", st, rows, k_in, n_out, k_in);
}

int32_t qkv_rope(void* handle, int device, int32_t dtype, const void* x, const void* wqkv, void* qkv, const int64_t* positions,
                 const int64_t* slots, const float* rope, int tokens, int heads, int kv_heads, int head_dim, int k_in, void* q_out, void* k_cache,
                 void* v_cache, bool early_weights, cudaStream_t s) {
    const int width = (heads + 2 * kv_heads) * head_dim;
    if (wgmma_rope_applies(device, tokens, width, k_in, head_dim, x, wqkv)) {
        const psk_wgmma::RopeTargets targets{positions, slots, reinterpret_cast<const float2*>(rope), heads, kv_heads, head_dim, q_out, k_cache, v_cache};
        return wgmma(device, dtype, x, wqkv, nullptr, tokens, width, k_in, early_weights, psk_wgmma::Epilogue::kRope, s, targets);
    }
    int32_t rc = linear(handle, device, dtype, x, wqkv, qkv, tokens, width, k_in, early_weights, s);
    return rc != PSK_OK ? rc : psk_rope_kv_write(dtype, qkv, width, positions, slots, rope, tokens, heads, kv_heads, head_dim, q_out, k_cache, v_cache, s);
}

int32_t gate_up_silu(void* handle, int device, int32_t dtype, const void* x, const void* w13, void* gate_up, void* act, int rows, int hidden,
                     int k_in, bool early_weights, cudaStream_t s) {
    if (wgmma_gated_applies(device, rows, hidden, k_in, x, w13)) {
        return wgmma(device, dtype, x, w13, act, rows, hidden, k_in, early_weights, psk_wgmma::Epilogue::kGated, s);
    }
    int32_t rc = linear(handle, device, dtype, x, w13, gate_up, rows, 2 * hidden, k_in, early_weights, s);
    return rc != PSK_OK ? rc : psk_silu_mul(dtype, gate_up, act, rows, hidden, s);
}

}  // namespace
