// Minimal stand-in for PyTorch's ATen/cuda/PhiloxCudaState.h (same layout). This build disables dropout, so the
// state is never filled; the kernels only need the type to compile.
#pragma once

#include <cstdint>

namespace at {
struct PhiloxCudaState {
    PhiloxCudaState() = default;
    PhiloxCudaState(uint64_t seed, uint64_t offset) {
        seed_.val = seed;
        offset_.val = offset;
    }
    union Payload {
        uint64_t val;
        int64_t* ptr;
    };
    Payload seed_{};
    Payload offset_{};
    uint32_t offset_intragraph_ = 0;
    bool captured_ = false;
};
}  // namespace at
