// Minimal stand-in for PyTorch's c10/cuda/CUDAException.h, so flash-attention's kernels build with the CUDA
// toolkit alone. A failed CUDA call throws; the C ABI (src/pagedsim_flash.cpp) catches it and returns an error code.
#pragma once

#include <cuda_runtime.h>
#include <stdexcept>
#include <string>

namespace pagedsim_flash_shim {
[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line) {
    throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(status) + " (" + expr + " at " + file +
                             ":" + std::to_string(line) + ")");
}
}  // namespace pagedsim_flash_shim

#define C10_CUDA_CHECK(EXPR)                                                              \
    do {                                                                                  \
        const cudaError_t pagedsim_status_ = (EXPR);                                      \
        if (pagedsim_status_ != cudaSuccess) {                                            \
            pagedsim_flash_shim::throw_cuda_error(pagedsim_status_, #EXPR, __FILE__, __LINE__); \
        }                                                                                 \
    } while (0)

#define C10_CUDA_KERNEL_LAUNCH_CHECK() C10_CUDA_CHECK(cudaGetLastError())
