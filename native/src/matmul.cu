// The layer loop's matmul dispatch (psk_linear, psk_qkv_rope_kv_write, psk_gate_up_silu): 2..8 rows the skinny
// split-k kernel (skinny_gemm.cuh), 9..64 rows the TMA + wgmma kernel (wgmma_gemm.cuh) with its fused epilogues, one
// row psk_gemv (gemv.cu), everything else cuBLAS through the library the process already holds.

#include "matmul.cuh"
#include "skinny_gemm.cuh"
#include "wgmma_gemm.cuh"

#include <dlfcn.h>
#include <library_types.h>

namespace {

using namespace psk_detail;

// Rows 2..kSkinnyMaxRows of the layer loop's matmuls run skinny_gemm.cuh's kernel on compute capability 9.0+ (it
// splits k across a thread-block cluster). Chained with programmatic dependent launch it takes 3-4% off an H100 decode
// step at 2-8 rows (docs/runner.md).
constexpr int kSkinnyMaxRows = 8;
constexpr int kSkinnyWarps = 8, kSkinnyStages = 3, kSkinnySub = 2;  // the best shape measured on the H100


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

}  // namespace

namespace psk_detail {

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
}  // namespace psk_detail

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_linear(int32_t dtype, const void* x, const void* w, void* y, int32_t rows, int32_t n_out, int32_t k_in, void* stream) {
    clear_error();
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
    clear_error();
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
    clear_error();
    if (!valid_dtype(dtype)) { return fail(PSK_ERR_DTYPE, "dtype %d is not fp16 (0) or bf16 (1)", dtype); }
    if (x == nullptr || w13 == nullptr || gate_up == nullptr || act == nullptr) { return fail(PSK_ERR_NULL_POINTER, "gate_up_silu: a pointer is null"); }
    if (rows < 1 || hidden <= 0 || k_in <= 0 || hidden > 0x3fffffff) { return fail(PSK_ERR_SHAPE, "gate_up_silu: rows %d, hidden %d, k_in %d", rows, hidden, k_in); }
    int device = 0;
    int32_t rc = current_device(&device);
    if (rc != PSK_OK) { return rc; }
    return gate_up_silu(nullptr, device, dtype, x, w13, gate_up, act, rows, hidden, k_in, false, static_cast<cudaStream_t>(stream));  // w13 may be freshly written
}

}  // extern "C"
