// The library's plumbing: the thread's last error, the device queries the kernels' dispatch consults, the ABI version
// and the CUDA events of the host's pipelined readback. Each kernel concept lives in a file of its own (rmsnorm.cu,
// rope_kv_write.cu, silu_mul.cu, argmax.cu, gemv.cu, matmul.cu, layer_loop.cu, paged_attention.cu), with its entry
// points; common.cuh is what they share.

#include "common.cuh"

#include <cstdarg>
#include <cstdio>

namespace psk_detail {

namespace {
thread_local char t_last_error[512] = "";
}  // namespace

void clear_error() { t_last_error[0] = '\0'; }

const char* last_error() { return t_last_error; }

int32_t fail(psk_status status, const char* format, ...) {
    va_list list;
    va_start(list, format);
    std::vsnprintf(t_last_error, sizeof t_last_error, format, list);
    va_end(list);
    return status;
}

int32_t current_device(int* device) {
    cudaError_t e = cudaGetDevice(device);
    if (e != cudaSuccess) { return fail(PSK_ERR_CUDA, "cudaGetDevice: %s", cudaGetErrorString(e)); }
    return *device >= 0 && *device < kMaxDevices ? PSK_OK : fail(PSK_ERR_CUDA, "device %d out of range", *device);
}

int32_t launched(const char* kernel, cudaError_t e) {
    if (e == cudaSuccess) { e = cudaGetLastError(); }
    return e == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "%s: %s", kernel, cudaGetErrorString(e));
}

bool programmatic_launch(int device) {
    static int major[kMaxDevices] = {};  // 0 = not queried yet; a benign race (same value written)
    if (device < 0 || device >= kMaxDevices) { return false; }
    if (major[device] == 0 && cudaDeviceGetAttribute(&major[device], cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) { return false; }
    return major[device] >= 9;
}

int multiprocessors(int device) {
    static int count[kMaxDevices] = {};  // 0 = not queried yet; a benign race (same value written)
    if (device < 0 || device >= kMaxDevices) { return 0; }
    if (count[device] == 0 && cudaDeviceGetAttribute(&count[device], cudaDevAttrMultiProcessorCount, device) != cudaSuccess) { return 0; }
    return count[device];
}

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

}  // namespace psk_detail

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_abi_version(void) { return PSK_ABI_VERSION; }

PSK_API const char* psk_last_error(void) { return last_error(); }

PSK_API int32_t psk_event_create(void** event) {
    clear_error();
    if (event == nullptr) { return fail(PSK_ERR_NULL_POINTER, "event_create: event is null"); }
    cudaEvent_t e = nullptr;
    cudaError_t st = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    *event = e;
    return st == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "event_create: %s", cudaGetErrorString(st));
}

PSK_API int32_t psk_event_record(void* event, void* stream) {
    clear_error();
    if (event == nullptr) { return fail(PSK_ERR_NULL_POINTER, "event_record: event is null"); }
    cudaError_t st = cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream));
    return st == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "event_record: %s", cudaGetErrorString(st));
}

PSK_API int32_t psk_event_synchronize(void* event) {
    clear_error();
    if (event == nullptr) { return fail(PSK_ERR_NULL_POINTER, "event_synchronize: event is null"); }
    cudaError_t st = cudaEventSynchronize(static_cast<cudaEvent_t>(event));
    return st == cudaSuccess ? PSK_OK : fail(PSK_ERR_CUDA, "event_synchronize: %s", cudaGetErrorString(st));
}

PSK_API void psk_event_destroy(void* event) {
    if (event != nullptr) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }
}

}  // extern "C"
