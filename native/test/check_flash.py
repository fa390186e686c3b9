#!/usr/bin/env python3
"""Device-side check and benchmark of libpagedsim_flash through its C ABI (ctypes), against PyTorch.

    python native/test/check_flash.py --lib build/native/libpagedsim_flash.so [--quick] [--no-bench]

Correctness: every case is compared with torch's scaled_dot_product_attention in float32 on the same (bf16/fp16)
inputs: decode and multi-token chunks (causal and not), ragged lengths, random block tables, page sizes 256/512,
forced and heuristic split counts, paged == contiguous, and the error codes of bad arguments.
Benchmark: decode (32 query / 8 KV heads, head dim 128, bf16, pages of 256), effective KV read bandwidth, next to
torch's reference (gather the pages + SDPA) on the same shapes.
"""
import argparse
import itertools
import ctypes
import math
import sys
import time

import torch
import torch.nn.functional as F

HEAD_DIM = 128
PSF_OK, PSF_ERR_NULL, PSF_ERR_HEAD_DIM, PSF_ERR_DTYPE, PSF_ERR_PAGE, PSF_ERR_STRIDE, PSF_ERR_SEQLEN, \
    PSF_ERR_SHAPE, PSF_ERR_WORKSPACE, PSF_ERR_BLOCK_TABLE = range(10)
PSF_ERR_SPLITS = 12


class FwdArgs(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_int32), ("batch", ctypes.c_int32), ("seqlen_q", ctypes.c_int32),
        ("num_heads", ctypes.c_int32), ("num_heads_k", ctypes.c_int32), ("head_dim", ctypes.c_int32),
        ("causal", ctypes.c_int32), ("softmax_scale", ctypes.c_float),
        ("q", ctypes.c_void_p), ("q_batch_stride", ctypes.c_int64), ("q_row_stride", ctypes.c_int64), ("q_head_stride", ctypes.c_int64),
        ("out", ctypes.c_void_p), ("out_batch_stride", ctypes.c_int64), ("out_row_stride", ctypes.c_int64), ("out_head_stride", ctypes.c_int64),
        ("k", ctypes.c_void_p), ("k_batch_stride", ctypes.c_int64), ("k_row_stride", ctypes.c_int64), ("k_head_stride", ctypes.c_int64),
        ("v", ctypes.c_void_p), ("v_batch_stride", ctypes.c_int64), ("v_row_stride", ctypes.c_int64), ("v_head_stride", ctypes.c_int64),
        ("cache_batch", ctypes.c_int32), ("cache_len", ctypes.c_int32),
        ("block_table", ctypes.c_void_p), ("block_table_host", ctypes.c_void_p),
        ("block_table_stride", ctypes.c_int64), ("max_blocks_per_seq", ctypes.c_int32),
        ("seqlens_k", ctypes.c_void_p), ("seqlens_k_host", ctypes.c_void_p), ("max_seqlen_k", ctypes.c_int32),
        ("workspace", ctypes.c_void_p), ("workspace_bytes", ctypes.c_int64),
        ("num_splits", ctypes.c_int32), ("device", ctypes.c_int32), ("stream", ctypes.c_void_p),
        ("cu_seqlens_q", ctypes.c_void_p),
    ]


class Flash:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        for name in ("psf_fwd_paged", "psf_fwd_contiguous"):
            getattr(self.lib, name).argtypes = [ctypes.POINTER(FwdArgs)]
            getattr(self.lib, name).restype = ctypes.c_int32
        self.lib.psf_plan.argtypes = [ctypes.POINTER(FwdArgs), ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64)]
        self.lib.psf_plan.restype = ctypes.c_int32
        self.lib.psf_last_error.restype = ctypes.c_char_p
        self.lib.psf_abi_version.restype = ctypes.c_int32
        self._workspace = {}

    def error(self):
        return self.lib.psf_last_error().decode()

    def make_args(self, q, k, v, out, seqlens, block_table=None, causal=False, num_splits=0):
        """q/out [b, sq, h, d]; k/v paged [blocks, page, hk, d] or contiguous [b, cap, hk, d]; seqlens int32 cuda."""
        a = FwdArgs()
        a.dtype = 1 if q.dtype == torch.bfloat16 else (0 if q.dtype == torch.float16 else 7)
        a.batch, a.seqlen_q, a.num_heads, a.head_dim = q.shape
        a.num_heads_k = k.shape[2]
        a.causal = int(causal)
        a.softmax_scale = 1.0 / math.sqrt(q.shape[3])
        a.q, (a.q_batch_stride, a.q_row_stride, a.q_head_stride) = q.data_ptr(), q.stride()[:3]
        a.out, (a.out_batch_stride, a.out_row_stride, a.out_head_stride) = out.data_ptr(), out.stride()[:3]
        a.k, (a.k_batch_stride, a.k_row_stride, a.k_head_stride) = k.data_ptr(), k.stride()[:3]
        a.v, (a.v_batch_stride, a.v_row_stride, a.v_head_stride) = v.data_ptr(), v.stride()[:3]
        a.cache_batch, a.cache_len = k.shape[0], k.shape[1]
        self._keep = [seqlens.cpu().contiguous()]
        a.seqlens_k, a.seqlens_k_host = seqlens.data_ptr(), self._keep[0].data_ptr()
        a.max_seqlen_k = int(self._keep[0].max())
        if block_table is not None:
            self._keep.append(block_table.cpu().contiguous())
            a.block_table, a.block_table_host = block_table.data_ptr(), self._keep[1].data_ptr()
            a.block_table_stride, a.max_blocks_per_seq = block_table.stride(0), block_table.shape[1]
        a.num_splits = num_splits
        a.device = q.device.index or 0
        a.stream = torch.cuda.current_stream().cuda_stream
        return a

    def plan(self, a, paged):
        s, b = ctypes.c_int32(), ctypes.c_int64()
        rc = self.lib.psf_plan(ctypes.byref(a), int(paged), ctypes.byref(s), ctypes.byref(b))
        if rc != PSF_OK:
            raise RuntimeError(f"psf_plan: {rc} {self.error()}")
        return s.value, b.value

    def run(self, a, paged):
        """Plans, provides the workspace (cached per size, as the C# side does) and launches. Returns (rc, splits)."""
        splits, nbytes = self.plan(a, paged)
        ws = self._workspace.get(nbytes)
        if ws is None:
            ws = self._workspace[nbytes] = torch.empty(max(nbytes // 4, 4), dtype=torch.float32, device="cuda")
        a.workspace, a.workspace_bytes = ws.data_ptr(), nbytes
        rc = (self.lib.psf_fwd_paged if paged else self.lib.psf_fwd_contiguous)(ctypes.byref(a))
        return rc, splits


def make_paged(batch, lens, hk, page, dtype, gen, spare_blocks=3, width=None):
    """Random paged cache with a random (shuffled) block table; returns k, v, block_table, seqlens."""
    need = [(l + page - 1) // page for l in lens]
    width = width or max(need)
    nblocks = sum(need) + spare_blocks
    k = torch.randn(nblocks, page, hk, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    v = torch.randn(nblocks, page, hk, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    perm = torch.randperm(nblocks, generator=gen, device="cuda").to(torch.int32)
    table = torch.zeros(batch, width, dtype=torch.int32, device="cuda")
    at = 0
    for b, n in enumerate(need):
        table[b, :n] = perm[at:at + n]
        at += n
    return k, v, table, torch.tensor(lens, dtype=torch.int32, device="cuda")


def gather(kc, table, b, length):
    page = kc.shape[1]
    n = (length + page - 1) // page
    return kc[table[b, :n].long()].reshape(n * page, kc.shape[2], HEAD_DIM)[:length]


def reference(q, keys, values, causal):
    """float32 SDPA per request; keys[b]/values[b] are [len, hk, d]; causal aligned to the end of the keys."""
    outs = []
    h = q.shape[2]
    for b in range(q.shape[0]):
        kb, vb = keys[b].float(), values[b].float()
        rep = h // kb.shape[1]
        kb = kb.repeat_interleave(rep, dim=1).transpose(0, 1)  # [h, len, d]
        vb = vb.repeat_interleave(rep, dim=1).transpose(0, 1)
        qb = q[b].float().transpose(0, 1)  # [h, sq, d]
        sq, sk = qb.shape[1], kb.shape[1]
        mask = None
        if causal and sq > 1:
            mask = torch.arange(sk, device=q.device)[None, :] <= (torch.arange(sq, device=q.device)[:, None] + sk - sq)
        outs.append(F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask).transpose(0, 1))
    return torch.stack(outs)


def check_case(fl, name, batch, lens, sq, h, hk, page, dtype, causal, splits, gen, results):
    k, v, table, seqlens = make_paged(batch, lens, hk, page, dtype, gen)
    q = torch.randn(batch, sq, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    out = torch.empty_like(q)
    rc, used = fl.run(fl.make_args(q, k, v, out, seqlens, table, causal, splits), paged=True)
    assert rc == PSF_OK, f"{name}: rc {rc} {fl.error()}"
    keys = [gather(k, table, b, lens[b]) for b in range(batch)]
    values = [gather(v, table, b, lens[b]) for b in range(batch)]
    ref = reference(q, keys, values, causal)
    err = (out.float() - ref).abs().max().item()
    # Paged == contiguous: the same keys laid out one request per row (rows in reversed order, addressed through
    # the cache-row table, plus one spare row), through psf_fwd_contiguous.
    cap = max(lens)
    kc = torch.zeros(batch + 1, cap, hk, HEAD_DIM, dtype=dtype, device="cuda")
    vc = torch.zeros_like(kc)
    rows = torch.arange(batch, 0, -1, dtype=torch.int32, device="cuda").view(batch, 1)
    for b in range(batch):
        kc[batch - b, :lens[b]], vc[batch - b, :lens[b]] = keys[b], values[b]
    out_c = torch.empty_like(q)
    rc, _ = fl.run(fl.make_args(q, kc, vc, out_c, seqlens, rows, causal, splits), paged=False)
    assert rc == PSF_OK, f"{name} contiguous: rc {rc} {fl.error()}"
    err_c = (out_c.float() - ref).abs().max().item()
    diff_pc = (out_c.float() - out.float()).abs().max().item()
    tol = 2e-2 if dtype == torch.bfloat16 else 5e-3
    ok = err < tol and err_c < tol and diff_pc < tol
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}: max|paged-ref| {err:.2e}  max|contig-ref| {err_c:.2e}  "
          f"max|paged-contig| {diff_pc:.2e}  splits {used}", flush=True)


def check_varlen(fl, name, qlens, lens, page, dtype, gen, results):
    """Queries of different lengths in one call (cu_seqlens_q, ABI 2), as a ragged prefill pass: request b's qlens[b]
    queries are the last of its lens[b] keys (causal). Against float32 SDPA per request, and against one plain call a
    request (the same kernel), paged and contiguous."""
    batch, h, hk = len(lens), 32, 8
    k, v, table, seqlens = make_paged(batch, lens, hk, page, dtype, gen)
    total = sum(qlens)
    q = torch.randn(total, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    starts = torch.tensor([0] + list(itertools.accumulate(qlens)), dtype=torch.int32, device="cuda")
    errs = []
    for paged in (True, False):
        out = torch.zeros_like(q)
        if paged:
            kk, vv, tt = k, v, table
        else:
            kk = torch.stack([torch.nn.functional.pad(gather(k, table, b, lens[b]), (0, 0, 0, 0, 0, max(lens) - lens[b])) for b in range(batch)])
            vv = torch.stack([torch.nn.functional.pad(gather(v, table, b, lens[b]), (0, 0, 0, 0, 0, max(lens) - lens[b])) for b in range(batch)])
            tt = torch.arange(batch, dtype=torch.int32, device="cuda").view(batch, 1)
        a = fl.make_args(q.view(1, total, h, HEAD_DIM), kk, vv, out.view(1, total, h, HEAD_DIM), seqlens, tt, True, 0)
        a.batch, a.seqlen_q, a.cu_seqlens_q = batch, max(qlens), starts.data_ptr()
        rc, used = fl.run(a, paged=paged)
        assert rc == PSF_OK, f"{name}: rc {rc} {fl.error()}"
        for b in range(batch):
            rows = out[starts[b]:starts[b + 1]].unsqueeze(0)
            ref = reference(q[starts[b]:starts[b + 1]].unsqueeze(0), [gather(k, table, b, lens[b])], [gather(v, table, b, lens[b])], True)
            errs.append((rows.float() - ref).abs().max().item())
        assert used == 1, f"{name}: {used} splits; a ragged call takes 1"
    tol = 2e-2 if dtype == torch.bfloat16 else 5e-3
    ok = max(errs) < tol
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}: max|varlen-ref| {max(errs):.2e} (paged and contiguous)", flush=True)


def check_errors(fl, gen, results):
    dtype = torch.bfloat16
    k, v, table, seqlens = make_paged(2, [300, 700], 8, 256, dtype, gen)
    q = torch.randn(2, 1, 32, HEAD_DIM, device="cuda", dtype=dtype)
    out = torch.empty_like(q)

    def expect(name, code, mutate, paged=True):
        a = fl.make_args(q, k, v, out, seqlens, table if paged else None)
        a.workspace_bytes = 1 << 30
        ws = torch.empty(1 << 16, device="cuda")
        a.workspace = ws.data_ptr()
        mutate(a)
        rc = (fl.lib.psf_fwd_paged if paged else fl.lib.psf_fwd_contiguous)(ctypes.byref(a))
        ok = rc == code
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} error {name}: rc {rc} (want {code}) \"{fl.error()}\"", flush=True)

    expect("head_dim 64", PSF_ERR_HEAD_DIM, lambda a: setattr(a, "head_dim", 64))
    expect("dtype 5", PSF_ERR_DTYPE, lambda a: setattr(a, "dtype", 5))
    expect("page 128", PSF_ERR_PAGE, lambda a: setattr(a, "cache_len", 128))
    expect("k_row_stride 12", PSF_ERR_STRIDE, lambda a: setattr(a, "k_row_stride", 12))
    expect("null q", PSF_ERR_NULL, lambda a: setattr(a, "q", None))
    expect("heads 32/7", PSF_ERR_SHAPE, lambda a: setattr(a, "num_heads_k", 7))
    expect("table too narrow", PSF_ERR_SEQLEN, lambda a: setattr(a, "max_blocks_per_seq", 2))
    expect("workspace small", PSF_ERR_WORKSPACE, lambda a: setattr(a, "workspace_bytes", 16))
    expect("block id out of range", PSF_ERR_BLOCK_TABLE, lambda a: setattr(a, "cache_batch", 2))
    expect("splits 200", PSF_ERR_SPLITS, lambda a: setattr(a, "num_splits", 200))
    kc = torch.zeros(2, 1024, 8, HEAD_DIM, dtype=dtype, device="cuda")
    rows = torch.tensor([[1], [2]], dtype=torch.int32, device="cuda")

    def contiguous(mutate):
        def apply(a):
            a.k, a.v, a.cache_batch, a.cache_len = kc.data_ptr(), kc.data_ptr(), 2, 1024
            a.k_batch_stride = a.v_batch_stride = kc.stride(0)
            fl._keep.append(rows.cpu())
            a.block_table, a.block_table_host, a.block_table_stride = rows.data_ptr(), fl._keep[-1].data_ptr(), 1
            mutate(a)
        return apply

    expect("contiguous cache row out of range", PSF_ERR_BLOCK_TABLE, contiguous(lambda a: None), paged=False)
    expect("contiguous len > cache_len", PSF_ERR_SEQLEN, contiguous(lambda a: setattr(a, "cache_len", 512)), paged=False)
    expect("max_seqlen_k beyond capacity (no host lengths)", PSF_ERR_SEQLEN,
           lambda a: (setattr(a, "seqlens_k_host", None), setattr(a, "max_seqlen_k", 5000)))
    expect("max_seqlen_k 0 (no host lengths)", PSF_ERR_SEQLEN,
           lambda a: (setattr(a, "seqlens_k_host", None), setattr(a, "max_seqlen_k", 0)))


def bench_ms(fn, iters):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def benchmark(fl, gen):
    rows = []
    h, hk, page, dtype = 32, 8, 256, torch.bfloat16
    for batch, ctx in [(1, 2048), (64, 2048), (256, 2048), (8, 8192)]:
        k, v, table, seqlens = make_paged(batch, [ctx] * batch, hk, page, dtype, gen, spare_blocks=0)
        q = torch.randn(batch, 1, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
        out = torch.empty_like(q)
        a = fl.make_args(q, k, v, out, seqlens, table)
        splits, nbytes = fl.plan(a, True)
        ws = torch.empty(max(nbytes // 4, 4), device="cuda")
        a.workspace, a.workspace_bytes = ws.data_ptr(), nbytes
        launch = fl.lib.psf_fwd_paged
        ref = ctypes.byref(a)
        iters = 200 if batch * ctx <= 131072 else 50
        ms = bench_ms(lambda: launch(ref), iters)
        kv_bytes = 2 * batch * ctx * hk * HEAD_DIM * q.element_size()
        # torch reference: gather the pages into contiguous K/V, then SDPA with GQA (bf16, flash/mem-efficient).
        idx = table.long()

        def torch_ref():
            kk = k[idx].reshape(batch, -1, hk, HEAD_DIM)[:, :ctx].transpose(1, 2)
            vv = v[idx].reshape(batch, -1, hk, HEAD_DIM)[:, :ctx].transpose(1, 2)
            return F.scaled_dot_product_attention(q.transpose(1, 2), kk, vv, enable_gqa=True)

        ref_ms = bench_ms(torch_ref, max(iters // 4, 10))
        err = (out.float() - torch_ref().transpose(1, 2).float()).abs().max().item()
        rows.append((batch, ctx, splits, ms * 1e3, kv_bytes / (ms * 1e-3) / 1e12, ref_ms * 1e3, err))
        print(f"bench b={batch} ctx={ctx}: {ms*1e3:.1f} us, {rows[-1][4]:.2f} TB/s, splits {splits}; torch ref {ref_ms*1e3:.1f} us; max|diff| {err:.1e}", flush=True)
        del k, v
        torch.cuda.empty_cache()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    fl = Flash(args.lib)
    gpu = torch.cuda.get_device_name(0)
    print(f"GPU {gpu}; torch {torch.__version__}; ABI {fl.lib.psf_abi_version()}", flush=True)
    gen = torch.Generator(device="cuda").manual_seed(1234)
    results = []
    bf, fp = torch.bfloat16, torch.float16
    # name, batch, lens, seqlen_q, h, hk, page, dtype, causal, splits
    cases = [
        ("decode b1 len1", 1, [1], 1, 32, 8, 256, bf, False, 0),
        ("decode b4 ragged", 4, [1, 255, 256, 257], 1, 32, 8, 256, bf, False, 0),
        ("decode b64 ragged", 64, [int(x) for x in torch.randint(1, 2049, (64,), generator=torch.Generator().manual_seed(5))], 1, 32, 8, 256, bf, False, 0),
        ("decode b8 8192", 8, [8192, 8000, 5000, 1, 4097, 8191, 300, 6000], 1, 32, 8, 256, bf, True, 0),
        ("decode b3 page512", 3, [1000, 1537, 2], 1, 32, 8, 512, bf, False, 0),
        ("decode b2 fp16", 2, [777, 3000], 1, 32, 8, 256, fp, False, 0),
        ("decode MHA 8/8", 2, [500, 900], 1, 8, 8, 256, bf, False, 0),
    ]
    for s in (1, 2, 3, 8):
        cases.append((f"decode b2 splits={s}", 2, [1500, 2500], 1, 32, 8, 256, bf, False, s))
    for sq in (7, 64, 130):
        for causal in (True, False):
            cases.append((f"chunk sq={sq} causal={causal}", 3, [sq, sq + 300, sq + 1000], sq, 32, 8, 256, bf, causal, 0))
    cases.append(("chunk sq=33 causal fp16 page512 splits=4", 2, [600, 1100], 33, 32, 8, 512, fp, True, 4))
    cases.append(("chunk sq=16 causal splits=1", 4, [16, 17, 700, 2048], 16, 32, 8, 256, bf, True, 1))
    for c in cases:
        check_case(fl, *c, gen, results)
    check_varlen(fl, "varlen prompts 44/1/300/2589", [44, 1, 300, 2589], [44, 1, 300, 2589], 256, bf, gen, results)
    check_varlen(fl, "varlen chunks after cached keys", [7, 130, 64], [300, 130, 1000], 256, bf, gen, results)
    check_varlen(fl, "varlen fp16 page512", [33, 600], [33, 1100], 512, fp, gen, results)
    check_errors(fl, gen, results)
    print(f"correctness: {sum(results)}/{len(results)} passed ({time.time() - t0:.0f} s)", flush=True)
    rows = [] if args.no_bench else benchmark(fl, gen)
    print(f"\nGPU: {gpu}")
    print("| batch | context | splits | flash us | KV TB/s | torch gather+SDPA us |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.2f} | {r[5]:.1f} |")
    print(f"correctness {sum(results)}/{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
