// A Hopper (sm_90a) matmul for 9-64 rows of a decode step: y [rows, n] = x [rows, k] . w [n, k]^T, fp16 or bf16,
// fp32 accumulation, built on warpgroup tensor-core instructions (wgmma) that read both operands from shared memory.
// At these row counts the mma.sync kernels of skinny_gemm.cuh are bound by instruction issue (x fragments loaded into
// registers by every warp, a cp.async per 16 bytes); here the tensor memory accelerator (TMA) moves each stage's
// weight and x tiles with one instruction each, and wgmma reads both from shared memory. One warpgroup a block owns
// 128 output columns (two m64 tiles of weights, the A operand) and all x rows (the B operand, N = 8 * MT), STAGES
// stages deep, in the 128-byte-swizzled K-major layout both TMA and wgmma use. k is split across a thread-block
// cluster as in skinny_gemm.cuh (deterministic sum).
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <dlfcn.h>

#include <cstdint>
#include <type_traits>

#include "gemm_stage.cuh"
#include "pdl.cuh"

namespace psk_wgmma {

constexpr int kTileColumns = 64;   // output columns (weight rows) of one m64 tile
constexpr int kAtom = 64;          // k of one swizzle atom: 128 bytes of a row
constexpr int kThreads = 128;      // one warpgroup

// Shared-memory matrix descriptor of a K-major tile in the 128-byte swizzle: rows of 128 bytes, 8-row groups 1024
// bytes apart (the stride byte offset); the leading byte offset is unused in this layout. `tile` is 1024-aligned.
__device__ __forceinline__ uint64_t descriptor(const void* tile) {
    const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(tile));
    return uint64_t((address & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PSK_WGMMA_DEVICE 1
#endif

// Transaction barriers in shared memory: a stage's barrier completes a phase when the bytes it expects have landed.
__device__ __forceinline__ uint32_t shared_address(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void barrier_init(uint64_t* barrier) {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(shared_address(barrier)) : "memory");
#endif
}

__device__ __forceinline__ void barrier_init_fence() {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}

__device__ __forceinline__ void barrier_expect(uint64_t* barrier, uint32_t bytes) {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(shared_address(barrier)), "r"(bytes) : "memory");
#endif
}

__device__ __forceinline__ void barrier_wait(uint64_t* barrier, uint32_t parity) {
#ifdef PSK_WGMMA_DEVICE
    uint32_t done = 0;
    while (!done) {
        asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                     : "=r"(done) : "r"(shared_address(barrier)), "r"(parity) : "memory");
    }
#endif
}

// A box of `map` at (inner, outer) into shared memory, counted on `barrier`.
__device__ __forceinline__ void tma_load(void* shared, const CUtensorMap* map, int inner, int outer, uint64_t* barrier) {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
                 :: "r"(shared_address(shared)), "l"(reinterpret_cast<uint64_t>(map)), "r"(inner), "r"(outer), "r"(shared_address(barrier))
                 : "memory");
#endif
}

__device__ __forceinline__ void warpgroup_fence() {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}

__device__ __forceinline__ void warpgroup_commit() {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}

template <int pending>
__device__ __forceinline__ void warpgroup_wait() {
#ifdef PSK_WGMMA_DEVICE
    asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(pending) : "memory");
#endif
}

// Keeps the compiler from moving accesses of the accumulators across the asynchronous products.
template <int N>
__device__ __forceinline__ void fence_registers(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) { asm volatile("" : "+f"(d[i]) :: "memory"); }
}

// d [64 x N] += a [64 x 16] . b [N x 16]^T, both K-major in shared memory. One function per N: inline assembly needs
// literal operand lists.
template <typename T, int N>
__device__ __forceinline__ void mma_async(float (&d)[N / 2], uint64_t a, uint64_t b);

#ifdef PSK_WGMMA_DEVICE
template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 16>(float (&d)[8], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %10, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7}, %8, %9, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 16>(float (&d)[8], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %10, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7}, %8, %9, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 24>(float (&d)[12], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %14, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n24k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11}, %12, %13, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 24>(float (&d)[12], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %14, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n24k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11}, %12, %13, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 32>(float (&d)[16], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 32>(float (&d)[16], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 40>(float (&d)[20], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %22, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n40k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19}, %20, %21, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 40>(float (&d)[20], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %22, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n40k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19}, %20, %21, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 48>(float (&d)[24], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %26, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n48k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23}, %24, %25, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 48>(float (&d)[24], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %26, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n48k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23}, %24, %25, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 56>(float (&d)[28], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %30, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n56k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27}, %28, %29, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 56>(float (&d)[28], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %30, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n56k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27}, %28, %29, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__nv_bfloat16, 64>(float (&d)[32], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(a), "l"(b), "r"(1));
}

template <>
__device__ __forceinline__ void mma_async<__half, 64>(float (&d)[32], uint64_t a, uint64_t b) {
    asm volatile("{.reg .pred p; setp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(a), "l"(b), "r"(1));
}
#endif

// What a block does with its product (see wgmma_gemm_kernel).
enum class Epilogue { kStore, kGated, kRope };

// Where the kRope epilogue writes, as psk_rope_kv_write takes them: per token (row) its position and cache slot, the
// (cos, sin) table [positions, head_dim / 2], q_out [rows, heads, head_dim] and the caches [slots, kv_heads, head_dim].
struct RopeTargets {
    const int64_t* positions;
    const int64_t* slots;
    const float2* table;
    int heads, kv_heads, head_dim;
    void* q_out;
    void* k_cache;
    void* v_cache;
};

// One block: 64 * TILES output columns over the block's range of k. MT = n8 tiles of rows (rows <= 8 * MT); STAGES
// stages of SUB atoms of 64 along k. weights and xs: TMA maps of w [n, k] (boxes of 64 x 64 TILES) and x [rows, k]
// (64 x 8 MT).
// EPILOGUE says what a block does with its product (the gated and RoPE ones need one split of k):
// - kStore: y [rows, n] = x . w^T.
// - kGated (TILES 2): w is [2n, k], the gate rows then the up rows of a feed-forward layer (w13), and the block's two
//   tiles are gate rows group0.. and up rows n + group0.. (boxes of 64 x 64): it writes y [rows, n] = SiLU(x . gate^T)
//   * (x . up^T), rounded where psk_silu_mul rounds.
// - kRope: the product is a qkv row per token (w = wqkv); it rotates q and k as psk_rope_kv_write does and writes q
//   to rope.q_out and k, v into the caches at the tokens' slots (y is not written).
// Either fused epilogue equals the matmul and the kernel after it run one after the other, without the round trip
// through global memory and the launch between.
// early_weights: the first stages' weights are requested before waiting for the previous kernel (which must not
// write w).
template <typename T, int MT, int TILES, int STAGES, int SUB, Epilogue EPILOGUE>
__global__ void __launch_bounds__(kThreads, 1) wgmma_gemm_kernel(const __grid_constant__ CUtensorMap weights, const __grid_constant__ CUtensorMap xs,
                                                                 T* __restrict__ y, int rows, int n, int k, bool early_weights, RopeTargets rope) {
#ifdef PSK_WGMMA_DEVICE
    constexpr bool GATED = EPILOGUE == Epilogue::kGated;
    static_assert(!GATED || TILES == 2, "a gate tile and an up tile");
    constexpr int kN = 8 * MT, kColumns = kTileColumns * TILES, kWeightBytes = kColumns * 128, kXBytes = kN * 128;  // one atom of each
    constexpr int kOutColumns = GATED ? kTileColumns : kColumns;  // output columns of a block
    constexpr int kStageBytes = SUB * (kWeightBytes + kXBytes);
    extern __shared__ __align__(16) uint8_t raw[];
    __shared__ uint64_t landed[STAGES];
    uint8_t* smem = raw + (1024 - shared_address(raw) % 1024) % 1024;  // the swizzle repeats every 1024 bytes
    psk_device::allow_next_launch();
    if (!early_weights) { psk_device::wait_for_previous(); }
    const int group0 = blockIdx.x * kOutColumns, chunks = k / (kAtom * SUB), splits = gridDim.y;
    const int c_begin = int(int64_t(chunks) * blockIdx.y / splits), count = int(int64_t(chunks) * (blockIdx.y + 1) / splits) - c_begin;
    const bool leader = threadIdx.x == 0;  // issues every copy
    if (leader) {
#pragma unroll
        for (int s = 0; s < STAGES; s++) { barrier_init(&landed[s]); }
        barrier_init_fence();
    }
    __syncthreads();
    auto load_weights = [&](int i) {  // arms stage i's barrier for all of its bytes
        uint8_t* stage = smem + (i % STAGES) * kStageBytes;
        barrier_expect(&landed[i % STAGES], kStageBytes);
#pragma unroll
        for (int atom = 0; atom < SUB; atom++) {
            const int k0 = ((c_begin + i) * SUB + atom) * kAtom;
            if constexpr (GATED) {
                tma_load(stage + atom * kWeightBytes, &weights, k0, group0, &landed[i % STAGES]);
                tma_load(stage + atom * kWeightBytes + kTileColumns * 128, &weights, k0, n + group0, &landed[i % STAGES]);
            } else {
                tma_load(stage + atom * kWeightBytes, &weights, k0, group0, &landed[i % STAGES]);
            }
        }
    };
    auto load_x = [&](int i) {
        uint8_t* stage = smem + (i % STAGES) * kStageBytes + SUB * kWeightBytes;
#pragma unroll
        for (int atom = 0; atom < SUB; atom++) { tma_load(stage + atom * kXBytes, &xs, ((c_begin + i) * SUB + atom) * kAtom, 0, &landed[i % STAGES]); }
    };
    if (leader) {
#pragma unroll
        for (int i = 0; i < STAGES - 1; i++) { if (i < count) { load_weights(i); } }
    }
    if (early_weights) { psk_device::wait_for_previous(); }
    if (leader) {
#pragma unroll
        for (int i = 0; i < STAGES - 1; i++) { if (i < count) { load_x(i); } }
    }
    float acc[TILES][kN / 2];
#pragma unroll
    for (int t = 0; t < TILES; t++) {
#pragma unroll
        for (int j = 0; j < kN / 2; j++) { acc[t][j] = 0.f; }
    }
    for (int i = 0; i < count; i++) {
        barrier_wait(&landed[i % STAGES], uint32_t(i / STAGES) & 1u);
        const uint8_t* stage = smem + (i % STAGES) * kStageBytes;
        warpgroup_fence();
#pragma unroll
        for (int t = 0; t < TILES; t++) { fence_registers(acc[t]); }
#pragma unroll
        for (int atom = 0; atom < SUB; atom++) {
            const uint64_t b = descriptor(stage + SUB * kWeightBytes + atom * kXBytes);
#pragma unroll
            for (int step = 0; step < kAtom / 16; step++) {  // 32 bytes along each row a step: 2 in the descriptor's units
#pragma unroll
                for (int t = 0; t < TILES; t++) {
                    const uint64_t a = descriptor(stage + atom * kWeightBytes + t * kTileColumns * 128);
                    mma_async<T, kN>(acc[t], a + 2 * step, b + 2 * step);
                }
            }
        }
        warpgroup_commit();
#pragma unroll
        for (int t = 0; t < TILES; t++) { fence_registers(acc[t]); }
        warpgroup_wait<1>();  // stage i - 1's products are done (the whole warpgroup's): its buffer may be refilled
        if (leader && i + STAGES - 1 < count) {
            load_weights(i + STAGES - 1);
            load_x(i + STAGES - 1);
        }
    }
    // kRope: each thread's pairs (token r, columns c, c + 1), their cache slots and rotations, read while the last
    // products finish (they were written before the step's first kernel; loaded together, not one after another).
    constexpr int kPairsPerThread = EPILOGUE == Epilogue::kRope ? (kN * kColumns / 2 + kThreads - 1) / kThreads : 1;
    int64_t pair_slot[kPairsPerThread];
    float2 pair_rotation[kPairsPerThread];
    if constexpr (EPILOGUE == Epilogue::kRope) {
#pragma unroll
        for (int p = 0; p < kPairsPerThread; p++) {
            const int i = threadIdx.x + p * kThreads, r = i / (kColumns / 2), column = group0 + 2 * (i % (kColumns / 2));
            const bool q_or_k = column / rope.head_dim < rope.heads + rope.kv_heads;
            pair_slot[p] = r < rows ? __ldg(rope.slots + r) : 0;
            pair_rotation[p] = r < rows && q_or_k ? __ldg(rope.table + __ldg(rope.positions + r) * (rope.head_dim / 2) + column % rope.head_dim / 2)
                                                  : make_float2(0.f, 0.f);
        }
    }
    warpgroup_wait<0>();
#pragma unroll
    for (int t = 0; t < TILES; t++) { fence_registers(acc[t]); }
    // The accumulators into an fp32 tile [kN rows of x][kColumns] in shared memory. Warp q, lane l holds, for m64
    // tile t and n8 block b: columns 64 t + 16 q + l / 4 (+ 8), rows 8 b + 2 (l % 4) (+ 1).
    float* tile = reinterpret_cast<float*>(smem);
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
    for (int t = 0; t < TILES; t++) {
#pragma unroll
        for (int b = 0; b < MT; b++) {
            const int c = 64 * t + 16 * warp + lane / 4, r = 8 * b + 2 * (lane % 4);
            tile[r * kColumns + c] = acc[t][4 * b];
            tile[(r + 1) * kColumns + c] = acc[t][4 * b + 1];
            tile[r * kColumns + c + 8] = acc[t][4 * b + 2];
            tile[(r + 1) * kColumns + c + 8] = acc[t][4 * b + 3];
        }
    }
    __syncthreads();
    if constexpr (EPILOGUE == Epilogue::kRope) {
        // Rounded as the matmul's output, then rotated and rounded as psk_rope_kv_write does. Columns come in pairs
        // (2i, 2i + 1) of a head, and a block's columns hold whole pairs.
        const int width = min(kColumns, n - group0);
        T* q_out = static_cast<T*>(rope.q_out);
        T* k_cache = static_cast<T*>(rope.k_cache);
        T* v_cache = static_cast<T*>(rope.v_cache);
#pragma unroll
        for (int p = 0; p < kPairsPerThread; p++) {
            const int i = threadIdx.x + p * kThreads, r = i / (kColumns / 2), c = 2 * (i % (kColumns / 2));
            if (r >= rows || c >= width) { continue; }
            const T a = psk_gemm::from_float_<T>(tile[r * kColumns + c]), b = psk_gemm::from_float_<T>(tile[r * kColumns + c + 1]);
            const int column = group0 + c, head = column / rope.head_dim, j = column % rope.head_dim;
            const int64_t slot_offset = pair_slot[p] * rope.kv_heads * rope.head_dim;
            if (head < rope.heads + rope.kv_heads) {
                const float2 rot = pair_rotation[p];
                const float x0 = psk_gemm::to_float_(a), x1 = psk_gemm::to_float_(b);
                T* dst = head < rope.heads ? q_out + (int64_t(r) * rope.heads + head) * rope.head_dim + j
                                           : k_cache + slot_offset + (head - rope.heads) * rope.head_dim + j;
                dst[0] = psk_gemm::from_float_<T>(x0 * rot.x - x1 * rot.y);
                dst[1] = psk_gemm::from_float_<T>(x0 * rot.y + x1 * rot.x);
            } else {
                T* dst = v_cache + slot_offset + (head - rope.heads - rope.kv_heads) * rope.head_dim + j;
                dst[0] = a;
                dst[1] = b;
            }
        }
        return;
    }
    if constexpr (GATED) {
        // Rounded as the matmul's output and psk_silu_mul round: gate and up to T, the SiLU to T, the product to T.
        const int width = min(kTileColumns, n - group0);
        for (int i = threadIdx.x; i < rows * kTileColumns; i += blockDim.x) {
            const int r = i / kTileColumns, c = i % kTileColumns;
            if (c >= width) { continue; }
            const float g = psk_gemm::to_float_(psk_gemm::from_float_<T>(tile[r * kColumns + c]));
            const float u = psk_gemm::to_float_(psk_gemm::from_float_<T>(tile[r * kColumns + kTileColumns + c]));
            const T silu = psk_gemm::from_float_<T>(g / (1.f + __expf(-g)));
            y[size_t(r) * n + group0 + c] = psk_gemm::from_float_<T>(psk_gemm::to_float_(silu) * u);
        }
        return;
    }
    if (splits == 1) {
        psk_gemm::store_tile<T>(tile, kColumns, y, rows, n, group0);
        return;
    }
    psk_gemm::store_split_sum<T>(tile, kColumns, y, rows, n, group0, splits);
#endif
}

// The driver's cuTensorMapEncodeTiled, from the libcuda the process has loaded (no link-time dependency).
typedef CUresult (*EncodeTiled)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

inline EncodeTiled encode_tiled() {
    static const EncodeTiled encode = [] {
        void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (lib == nullptr) { lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); }
        return lib == nullptr ? nullptr : reinterpret_cast<EncodeTiled>(dlsym(lib, "cuTensorMapEncodeTiled"));
    }();
    return encode;
}

// A TMA map of a row-major [outer, inner] matrix of T in boxes of 64 x box_outer, 128-byte swizzled (zeros past
// its edges).
template <typename T>
cudaError_t tensor_map(CUtensorMap* map, const T* base, int inner, int outer, int box_outer) {
    const EncodeTiled encode = encode_tiled();
    if (encode == nullptr) { return cudaErrorSharedObjectSymbolNotFound; }
    const cuuint64_t dims[2] = {cuuint64_t(inner), cuuint64_t(outer)}, strides[1] = {cuuint64_t(inner) * sizeof(T)};
    const cuuint32_t box[2] = {cuuint32_t(kAtom), cuuint32_t(box_outer)}, element_strides[2] = {1, 1};
    const CUtensorMapDataType type = sizeof(T) == 2 && std::is_same<T, __half>::value ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    const CUresult r = encode(map, type, 2, const_cast<T*>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                              CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

// Dynamic shared memory of a launch: the stages (and 1 KiB to align them), or the fp32 tile if larger.
template <int MT, int TILES, int STAGES, int SUB>
constexpr int launch_shared_bytes() {
    constexpr int kColumns = kTileColumns * TILES;
    constexpr int kPipeline = STAGES * SUB * (kColumns + 8 * MT) * 128 + 1024, kTile = 8 * MT * kColumns * 4 + 1024;
    return kPipeline > kTile ? kPipeline : kTile;
}

// Launches wgmma_gemm_kernel<T, MT, TILES, STAGES, SUB, EPILOGUE> on the current device (`device`) over n columns with k split `splits`
// ways (a cluster of that many blocks, at most 8). Needs a compute capability 9.0 device and a library built for
// sm_90a, rows <= 8 * MT, n a multiple of 16, k a multiple of 64 * SUB with at least `splits` stages, x and w
// 16-byte aligned (TMA). pdl: the launch may start before the previous kernel in s ends (programmatic dependent launch);
// early_weights as the kernel takes it. kGated: y [rows, n] from w [2n, k] as the kernel says, TILES 2; kRope: the
// caches and q as `rope` says; both one split.
template <typename T, int MT, int TILES, int STAGES, int SUB, Epilogue EPILOGUE = Epilogue::kStore>
cudaError_t launch_wgmma(int device, const T* x, const T* w, T* y, int rows, int n, int k, int splits, bool early_weights, bool pdl, cudaStream_t s,
                         RopeTargets rope = {}) {
    constexpr bool GATED = EPILOGUE == Epilogue::kGated;
    auto kernel = wgmma_gemm_kernel<T, MT, TILES, STAGES, SUB, EPILOGUE>;
    constexpr int kColumns = kTileColumns * TILES, kShared = launch_shared_bytes<MT, TILES, STAGES, SUB>();
    static_assert(TILES >= 1 && TILES <= 4, "a TMA box has at most 256 rows");
    static_assert(kShared <= 227 * 1024, "the stages exceed the shared memory of a block");
    static_assert(MT >= 2 && MT <= 8, "wgmma's N is 16 to 64 here");
    constexpr int kDevices = 64;
    static bool prepared[kDevices] = {};  // attributes set once per instantiation and device (a benign race)
    if (device < 0 || device >= kDevices) { return cudaErrorInvalidDevice; }
    if (!prepared[device]) {
        cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kShared);
        if (e != cudaSuccess) { return e; }
        prepared[device] = true;
    }
    CUtensorMap weights, xs;
    if (EPILOGUE != Epilogue::kStore && splits != 1) { return cudaErrorInvalidValue; }
    cudaError_t e = GATED ? tensor_map(&weights, w, k, 2 * n, kTileColumns) : tensor_map(&weights, w, k, n, kColumns);
    if (e == cudaSuccess) { e = tensor_map(&xs, x, k, rows, 8 * MT); }
    if (e != cudaSuccess) { return e; }
    const int out_columns = GATED ? kTileColumns : kColumns;
    return psk_gemm::launch_split_clusters(kernel, (n + out_columns - 1) / out_columns, splits, kThreads, kShared, pdl, s, weights, xs, y, rows, n, k,
                                           early_weights, rope);
}

}  // namespace psk_wgmma
