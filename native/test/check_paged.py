#!/usr/bin/env python3
"""Device-side check and benchmark of the library's own paged decode attention (pagedsim_paged.h) through its C ABI.

    python native/test/check_paged.py --lib build/native/libpagedsim_flash.so [--no-bench]

Correctness: every case is compared with torch's scaled_dot_product_attention in float32 on the same (bf16/fp16)
inputs gathered from a shuffled block table: block sizes 16/32/64/128/256 (and 48, not a power of two), contexts
1..8192 (ragged), batch 1..256, GQA 32/8 (and 8/8, 16/8, 64/8), forced split counts; every output is recomputed and
compared bit for bit (determinism); argument errors. Benchmark: KV read bandwidth (bytes of K and V the step reads /
time) at 49 x 512, 8 x 8192, 64 x 2048 and 1 x 8192 for block 16 and 256, beside flash-attn 2 (block 256) when the
library has it.
"""
import argparse
import ctypes
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_flash import Flash, make_paged, gather, reference, bench_ms, HEAD_DIM  # noqa: E402

PSK_OK, PSK_ERR_NULL, PSK_ERR_DTYPE, PSK_ERR_SHAPE = 0, 1, 2, 3


class PagedArgs(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_int32), ("batch", ctypes.c_int32), ("heads", ctypes.c_int32), ("kv_heads", ctypes.c_int32),
        ("head_dim", ctypes.c_int32), ("softmax_scale", ctypes.c_float),
        ("q", ctypes.c_void_p), ("out", ctypes.c_void_p), ("k_cache", ctypes.c_void_p), ("v_cache", ctypes.c_void_p),
        ("block_size", ctypes.c_int32), ("block_table", ctypes.c_void_p), ("block_table_stride", ctypes.c_int64),
        ("seqlens", ctypes.c_void_p), ("max_seqlen", ctypes.c_int32), ("num_splits", ctypes.c_int32),
        ("workspace", ctypes.c_void_p), ("workspace_bytes", ctypes.c_int64), ("stream", ctypes.c_void_p),
    ]


class Paged:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.psk_paged_decode.argtypes = [ctypes.POINTER(PagedArgs)]
        self.lib.psk_paged_decode.restype = ctypes.c_int32
        self.lib.psk_paged_plan.argtypes = [ctypes.POINTER(PagedArgs), ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64)]
        self.lib.psk_paged_plan.restype = ctypes.c_int32
        self.lib.psk_last_error.restype = ctypes.c_char_p
        self.lib.psk_paged_args_size.restype = ctypes.c_int32
        assert self.lib.psk_paged_args_size() == ctypes.sizeof(PagedArgs), "psk_paged_args layout differs from this mirror"
        self._ws = {}

    def error(self):
        return self.lib.psk_last_error().decode()

    def make_args(self, q, k, v, out, seqlens, table, max_seqlen, splits=0):
        """q/out [b, h, d]; k/v [blocks, block, hk, d]; table int32 [b, w]; seqlens int32 [b] (all cuda)."""
        a = PagedArgs()
        a.dtype = 1 if q.dtype == torch.bfloat16 else (0 if q.dtype == torch.float16 else 7)
        a.batch, a.heads, a.head_dim = q.shape
        a.kv_heads = k.shape[2]
        a.softmax_scale = 1.0 / math.sqrt(q.shape[2])
        a.q, a.out, a.k_cache, a.v_cache = q.data_ptr(), out.data_ptr(), k.data_ptr(), v.data_ptr()
        a.block_size = k.shape[1]
        a.block_table, a.block_table_stride = table.data_ptr(), table.stride(0)
        a.seqlens, a.max_seqlen, a.num_splits = seqlens.data_ptr(), max_seqlen, splits
        a.stream = torch.cuda.current_stream().cuda_stream
        return a

    def plan(self, a):
        s, b = ctypes.c_int32(), ctypes.c_int64()
        rc = self.lib.psk_paged_plan(ctypes.byref(a), ctypes.byref(s), ctypes.byref(b))
        if rc != PSK_OK:
            raise RuntimeError(f"psk_paged_plan: {rc} {self.error()}")
        return s.value, b.value

    def prepare(self, a):
        splits, nbytes = self.plan(a)
        ws = self._ws.get(nbytes)
        if ws is None:
            ws = self._ws[nbytes] = torch.empty(max(nbytes // 4, 4), dtype=torch.float32, device="cuda")
        a.workspace, a.workspace_bytes = ws.data_ptr(), nbytes
        return splits

    def run(self, a):
        splits = self.prepare(a)
        return self.lib.psk_paged_decode(ctypes.byref(a)), splits


def check(name, ok, results, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}", flush=True)


def check_case(pg, name, lens, h, hk, block, dtype, splits, gen, results):
    batch = len(lens)
    k, v, table, seqlens = make_paged(batch, lens, hk, block, dtype, gen)
    q = torch.randn(batch, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    out = torch.full_like(q, float("nan"))
    a = pg.make_args(q, k, v, out, seqlens, table, max(lens), splits)
    rc, used = pg.run(a)
    torch.cuda.synchronize()
    if rc != PSK_OK:
        check(name, False, results, f"rc={rc} {pg.error()}")
        return
    ref = torch.zeros(q.shape, dtype=torch.float32, device="cuda")  # an empty sequence's output is zeros
    for b in range(batch):
        if lens[b] > 0:
            ref[b] = reference(q[b:b + 1, None], [gather(k, table, b, lens[b])], [gather(v, table, b, lens[b])], False)[0, 0]
    err = (out.float() - ref).abs().max().item()
    tol = 2e-2 if dtype == torch.bfloat16 else 4e-3  # one rounding of outputs of magnitude < 4 to the element type
    again = torch.full_like(q, float("nan"))
    a.out = again.data_ptr()
    pg.run(a)
    torch.cuda.synchronize()
    same = torch.equal(out.view(torch.int16), again.view(torch.int16))
    check(name, err <= tol and same, results, f"max|diff| {err:.2e} (tol {tol}), splits {used}, bit-stable {same}")


def check_errors(pg, gen, results):
    k, v, table, seqlens = make_paged(2, [100, 200], 8, 16, torch.bfloat16, gen)
    q = torch.randn(2, 32, HEAD_DIM, generator=gen, device="cuda").to(torch.bfloat16)
    out = torch.empty_like(q)

    def expect(name, code, mutate):
        a = pg.make_args(q, k, v, out, seqlens, table, 200)
        pg.prepare(a)
        mutate(a)
        rc = pg.lib.psk_paged_decode(ctypes.byref(a))
        check(f"error: {name}", rc == code and pg.error() != "", results, f"rc={rc} '{pg.error()}'")

    expect("null q", PSK_ERR_NULL, lambda a: setattr(a, "q", None))
    expect("dtype 7", PSK_ERR_DTYPE, lambda a: setattr(a, "dtype", 7))
    expect("head_dim 64", PSK_ERR_SHAPE, lambda a: setattr(a, "head_dim", 64))
    expect("32 heads / 6 kv heads", PSK_ERR_SHAPE, lambda a: setattr(a, "kv_heads", 6))
    expect("block table too narrow", PSK_ERR_SHAPE, lambda a: setattr(a, "max_seqlen", 10_000))
    expect("too many splits", PSK_ERR_SHAPE, lambda a: setattr(a, "num_splits", 100))
    expect("no workspace for 4 splits", PSK_ERR_SHAPE, lambda a: (setattr(a, "num_splits", 4), setattr(a, "workspace", None)))


def benchmark(pg, fl, gen):
    rows = []
    h, hk, dtype = 32, 8, torch.bfloat16
    for batch, ctx in [(49, 512), (8, 8192), (64, 2048), (1, 8192), (256, 512)]:
        for block in (16, 256):
            k, v, table, seqlens = make_paged(batch, [ctx] * batch, hk, block, dtype, gen, spare_blocks=0)
            q = torch.randn(batch, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
            out = torch.empty_like(q)
            a = pg.make_args(q, k, v, out, seqlens, table, ctx)
            splits = pg.prepare(a)
            ref = ctypes.byref(a)
            launch = pg.lib.psk_paged_decode
            kv_bytes = 2 * batch * ctx * hk * HEAD_DIM * q.element_size()
            iters = max(20, min(400, int(4e10 / kv_bytes)))
            ms = bench_ms(lambda: launch(ref), iters)
            flash = ""
            if fl is not None and block == 256:
                out4 = torch.empty(batch, 1, h, HEAD_DIM, dtype=dtype, device="cuda")
                fa = fl.make_args(q[:, None], k, v, out4, seqlens, table)
                fsplits, nbytes = fl.plan(fa, True)
                ws = torch.empty(max(nbytes // 4, 4), device="cuda")
                fa.workspace, fa.workspace_bytes = ws.data_ptr(), nbytes
                fref = ctypes.byref(fa)
                fms = bench_ms(lambda: fl.lib.psf_fwd_paged(fref), iters)
                torch.cuda.synchronize()
                diff = (out4[:, 0].float() - out.float()).abs().max().item()
                flash = f"{fms * 1e3:.1f} us {kv_bytes / (fms * 1e-3) / 1e12:.2f} TB/s (splits {fsplits}, max|ours - flash| {diff:.1e})"
            tbs = kv_bytes / (ms * 1e-3) / 1e12
            rows.append((batch, ctx, block, splits, ms * 1e3, tbs, flash))
            print(f"bench b={batch} ctx={ctx} block={block}: {ms * 1e3:.1f} us, {tbs:.2f} TB/s, splits {splits}; flash-attn 2: {flash or '-'}", flush=True)
            del k, v
            torch.cuda.empty_cache()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    pg = Paged(args.lib)
    try:
        fl = Flash(args.lib)
    except Exception:  # a library without flash-attn
        fl = None
    gpu = torch.cuda.get_device_name(0)
    print(f"GPU {gpu}; torch {torch.__version__}", flush=True)
    gen = torch.Generator(device="cuda").manual_seed(4321)
    rnd = torch.Generator().manual_seed(7)
    results = []
    bf, fp = torch.bfloat16, torch.float16
    cases = []
    for block in (16, 32, 64, 128, 256):
        cases.append((f"block {block} b1 len1", [1], 32, 8, block, bf, 0))
        cases.append((f"block {block} b5 edges", [block - 1 if block > 1 else 1, block, block + 1, 31, 33], 32, 8, block, bf, 0))
        cases.append((f"block {block} b64 ragged 1..2048", [int(x) for x in torch.randint(1, 2049, (64,), generator=rnd)], 32, 8, block, bf, 0))
        cases.append((f"block {block} b8 ragged to 8192", [8192, 8000, 5000, 1, 4097, 8191, 300, 6000], 32, 8, block, bf, 0))
    cases += [
        ("block 48 b4", [47, 48, 49, 1000], 32, 8, 48, bf, 0),
        ("block 16 b256 ragged 1..512", [int(x) for x in torch.randint(1, 513, (256,), generator=rnd)], 32, 8, 16, bf, 0),
        ("block 16 b49 x 512", [512] * 49, 32, 8, 16, bf, 0),
        ("block 32 fp16 b3", [777, 3000, 5], 32, 8, 32, fp, 0),
        ("block 256 fp16 b2 8192", [8192, 4000], 32, 8, 256, fp, 0),
        ("block 16 MHA 8/8", [500, 900], 8, 8, 16, bf, 0),
        ("block 16 GQA 16/8", [500, 900], 16, 8, 16, bf, 0),
        ("block 16 GQA 64/8", [500, 900], 64, 8, 16, bf, 0),
        ("block 16 with a length 0", [0, 100, 700], 32, 8, 16, bf, 0),
    ]
    for s in (1, 2, 3, 7, 64):
        cases.append((f"block 16 b2 splits={s}", [1500, 2500], 32, 8, 16, bf, s))
    for c in cases:
        check_case(pg, *c, gen, results)
    check_errors(pg, gen, results)
    print(f"correctness: {sum(results)}/{len(results)} passed ({time.time() - t0:.0f} s)", flush=True)
    rows = [] if args.no_bench else benchmark(pg, fl, gen)
    print(f"\nGPU: {gpu}")
    print("| batch | context | block | splits | ours us | ours KV TB/s | flash-attn 2 (block 256) |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.2f} | {r[6]} |")
    print(f"correctness {sum(results)}/{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
