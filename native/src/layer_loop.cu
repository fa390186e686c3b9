// The layer loop (psk_forward_layers): every transformer layer of a forward pass queued by one call, and the same pass
// captured as a CUDA graph (psk_graph_capture, psk_graph_launch).

#include "matmul.cuh"
#include "pagedsim_paged.h"

#include <new>

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

using namespace psk_detail;

extern "C" {

PSK_API int32_t psk_forward_args_size(void) { return int32_t(sizeof(psk_forward_args)); }

PSK_API int32_t psk_forward_layers(const psk_forward_args* a) {
    clear_error();
    if (a == nullptr || a->layer == nullptr || a->final_norm == nullptr || a->residual == nullptr || a->normed == nullptr ||
        a->qkv == nullptr || a->q == nullptr || a->attn == nullptr || a->delta == nullptr || a->gate_up == nullptr ||
        a->act == nullptr || a->positions == nullptr || a->slots == nullptr || a->rope == nullptr) {
        return fail(PSK_ERR_NULL_POINTER, "forward_layers: a required pointer is null");
    }
    if (a->tokens <= 0 || a->layers <= 0 || a->dim <= 0 || a->hidden <= 0 || a->dim % 8 != 0 || a->hidden % 8 != 0 ||
        a->attention.q != a->q || a->attention.out != a->attn ||
        (a->attention.cu_seqlens_q == nullptr && a->attention.batch * a->attention.seqlen_q != a->tokens)) {
        return fail(PSK_ERR_SHAPE, "forward_layers: tokens %d, layers %d, dim %d, hidden %d (multiples of 8); the attention call must read q and write attn for every token (ragged: its cu_seqlens_q must cover them)",
                    a->tokens, a->layers, a->dim, a->hidden);
    }
    if (a->decode_attention != nullptr && a->decode_attention->batch != a->tokens) {
        return fail(PSK_ERR_SHAPE, "forward_layers: the paged decode attention has a batch of %d; a decode pass of %d tokens needs one a token",
                    a->decode_attention->batch, a->tokens);
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
        if (a->decode_attention != nullptr) {
            psk_paged_args paged = *a->decode_attention;
            paged.q = a->q;
            paged.out = a->attn;
            paged.k_cache = w.k_cache;
            paged.v_cache = w.v_cache;
            paged.stream = s;
            PSK_STEP(psk_paged_decode(&paged));
        } else {
            attention.k = w.k_cache;
            attention.v = w.v_cache;
            int32_t st = a->paged ? psf_fwd_paged(&attention) : psf_fwd_contiguous(&attention);
            if (st != PSF_OK) { return fail(PSK_ERR_ATTENTION, "layer %d attention: %s", l, psf_last_error()); }
        }
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
    clear_error();
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
    clear_error();
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

}  // extern "C"
