// What every source file of pagedsim_kernels shares: the thread's last error, the device queries the dispatch
// consults, the launch helper (programmatic dependent launch where the GPU has it) and the element conversions.
// Internal to the library (hidden visibility): the C ABI is pagedsim_kernels.h.
#pragma once

#include "pagedsim_kernels.h"

#include "pdl.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

namespace psk_detail {

constexpr int kMaxDevices = 64;  // per-device state is kept in arrays of this size

// The thread's last error (psk_last_error): cleared by every entry point, set by fail().
void clear_error();
const char* last_error();
int32_t fail(psk_status status, const char* format, ...);

// The current CUDA device, checked against the per-device arrays.
int32_t current_device(int* device);
// PSK_OK, or PSK_ERR_CUDA naming `kernel` when the launch (or an earlier asynchronous error) failed.
int32_t launched(const char* kernel, cudaError_t e);
// Whether kernels on `device` may start before their predecessor ends (compute capability 9.0+).
bool programmatic_launch(int device);
int multiprocessors(int device);
int compute_capability(int device);  // major * 10 + minor; 0 if unknown

inline bool valid_dtype(int32_t dtype) { return dtype == PSK_DTYPE_FP16 || dtype == PSK_DTYPE_BF16; }

inline int block_threads(int64_t work) {
    int64_t threads = (work + 31) / 32 * 32;
    return int(threads < 32 ? 32 : threads > 1024 ? 1024 : threads);
}

using psk_device::allow_next_launch;  // programmatic dependent launch: pdl.cuh says how the kernels use it
using psk_device::wait_for_previous;

// kernel<<<grid, block, shared, s>>>(args...), allowed to start before the previous kernel in s ends where the GPU can.
template <typename... Params, typename... Args>
cudaError_t launch_shared(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t s, Args... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared;
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

template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
    return launch_shared(kernel, grid, block, 0, s, args...);
}

__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

}  // namespace psk_detail
