// Programmatic dependent launch (compute capability 9.0 and newer): a kernel lets the next one in the stream start
// at once, and that one loads what does not depend on its predecessor (weights) before waiting for it to finish.
// The gap between two short kernels, and a matmul's first loads, then overlap the previous kernel's tail. Every kernel
// that uses these waits before it reads or writes activations, so each one's completion still implies its
// predecessor's.
#pragma once

namespace psk_device {

__device__ __forceinline__ void allow_next_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void wait_for_previous() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace psk_device
