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
from check_flash import Flash, FwdArgs, make_paged, gather, reference, bench_ms, HEAD_DIM  # noqa: E402

PSK_OK, PSK_ERR_NULL, PSK_ERR_DTYPE, PSK_ERR_SHAPE = 0, 1, 2, 3


class PagedArgs(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_int32), ("batch", ctypes.c_int32), ("heads", ctypes.c_int32), ("kv_heads", ctypes.c_int32),
        ("head_dim", ctypes.c_int32), ("softmax_scale", ctypes.c_float),
        ("q", ctypes.c_void_p), ("out", ctypes.c_void_p), ("k_cache", ctypes.c_void_p), ("v_cache", ctypes.c_void_p),
        ("block_size", ctypes.c_int32), ("block_table", ctypes.c_void_p), ("block_table_stride", ctypes.c_int64),
        ("seqlens", ctypes.c_void_p), ("max_seqlen", ctypes.c_int32), ("num_splits", ctypes.c_int32), ("kernel", ctypes.c_int32),
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

    def make_args(self, q, k, v, out, seqlens, table, max_seqlen, splits=0, kernel=0):
        """q/out [b, h, d]; k/v [blocks, block, hk, d]; table int32 [b, w]; seqlens int32 [b] (all cuda)."""
        a = PagedArgs()
        a.dtype = 1 if q.dtype == torch.bfloat16 else (0 if q.dtype == torch.float16 else 7)
        a.batch, a.heads, a.head_dim = q.shape
        a.kv_heads = k.shape[2]
        a.softmax_scale = 1.0 / math.sqrt(q.shape[2])
        a.q, a.out, a.k_cache, a.v_cache = q.data_ptr(), out.data_ptr(), k.data_ptr(), v.data_ptr()
        a.block_size = k.shape[1]
        a.block_table, a.block_table_stride = table.data_ptr(), table.stride(0)
        a.seqlens, a.max_seqlen, a.num_splits, a.kernel = seqlens.data_ptr(), max_seqlen, splits, kernel
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


KERNELS = {0: "tensor cores", 1: "CUDA cores"}


def check_case(pg, name, lens, h, hk, block, dtype, splits, gen, results):
    for kernel in KERNELS:
        check_kernel_case(pg, f"[{KERNELS[kernel]}] {name}", lens, h, hk, block, dtype, splits, kernel, gen, results)


def check_kernel_case(pg, name, lens, h, hk, block, dtype, splits, kernel, gen, results):
    batch = len(lens)
    k, v, table, seqlens = make_paged(batch, lens, hk, block, dtype, gen)
    q = torch.randn(batch, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    out = torch.full_like(q, float("nan"))
    a = pg.make_args(q, k, v, out, seqlens, table, max(lens), splits, kernel)
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
    expect("kernel 2", PSK_ERR_SHAPE, lambda a: setattr(a, "kernel", 2))


def layout(keys, values, block, gen, hk, dtype):
    """The same per-sequence K/V ([len, hk, d] each) in a pool of `block`-token blocks behind a shuffled table."""
    need = [(x.shape[0] + block - 1) // block for x in keys]
    n = sum(need) + 2
    kc = torch.zeros(n, block, hk, HEAD_DIM, dtype=dtype, device="cuda")
    vc = torch.zeros_like(kc)
    perm = torch.randperm(n, generator=gen, device="cuda")
    table = torch.zeros(len(keys), max(need), dtype=torch.int32, device="cuda")
    at = 0
    for b, x in enumerate(keys):
        ids = perm[at:at + need[b]]
        at += need[b]
        table[b, :need[b]] = ids.to(torch.int32)
        length = x.shape[0]
        pad = need[b] * block - length
        kc[ids] = torch.cat([x, x.new_zeros(pad, hk, HEAD_DIM)]).view(need[b], block, hk, HEAD_DIM)
        vc[ids] = torch.cat([values[b], x.new_zeros(pad, hk, HEAD_DIM)]).view(need[b], block, hk, HEAD_DIM)
    return kc, vc, table


def check_block_independence(pg, gen, results):
    """The same keys and values behind blocks of 16, 48 and 256 tokens give the same bits (the kernels address tokens)."""
    lens = [3000, 17, 1025, 8192]
    hk, dtype = 8, torch.bfloat16
    keys = [torch.randn(n, hk, HEAD_DIM, generator=gen, device="cuda").to(dtype) for n in lens]
    values = [torch.randn(n, hk, HEAD_DIM, generator=gen, device="cuda").to(dtype) for n in lens]
    q = torch.randn(len(lens), 32, HEAD_DIM, generator=gen, device="cuda").to(dtype)
    seqlens = torch.tensor(lens, dtype=torch.int32, device="cuda")
    for kernel in KERNELS:
        outs = []
        for block in (16, 48, 256):
            kc, vc, table = layout(keys, values, block, gen, hk, dtype)
            out = torch.empty_like(q)
            rc, _ = pg.run(pg.make_args(q, kc, vc, out, seqlens, table, max(lens), 0, kernel))
            torch.cuda.synchronize()
            outs.append(out if rc == PSK_OK else None)
        ok = all(o is not None for o in outs) and all(torch.equal(outs[0].view(torch.int16), o.view(torch.int16)) for o in outs[1:])
        check(f"[{KERNELS[kernel]}] blocks 16, 48, 256: the same bits", ok, results)


class Layer(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("attention_norm", "wqkv", "wo", "ffn_norm", "w13", "w2", "k_cache", "v_cache")]


class ForwardArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("dtype", "tokens", "dim", "heads", "kv_heads", "head_dim", "hidden", "layers")] + [
        ("norm_eps", ctypes.c_float)] + [(n, ctypes.c_void_p) for n in (
            "layer", "final_norm", "residual", "normed", "qkv", "q", "attn", "delta", "gate_up", "act", "positions", "slots", "rope")] + [
        ("attention", FwdArgs), ("paged", ctypes.c_int32), ("stream", ctypes.c_void_p), ("decode_attention", ctypes.c_void_p)]


def check_layer_loop(pg, fl, gen, results):
    """psk_forward_layers on a small random Llama (2 layers, 4 query / 2 KV heads) for one decode pass over a paged cache
    of 256-token blocks: attention by flash-attn 2, then by the paged kernel (decode_attention), then the paged kernel over
    the same cache in 16-token blocks. The outputs agree within bf16 rounding, the two block sizes bit for bit."""
    lib = pg.lib
    lib.psk_forward_layers.argtypes = [ctypes.POINTER(ForwardArgs)]
    lib.psk_forward_layers.restype = ctypes.c_int32
    lib.psk_forward_args_size.restype = ctypes.c_int32
    check("psk_forward_args layout", lib.psk_forward_args_size() == ctypes.sizeof(ForwardArgs), results,
          f"{lib.psk_forward_args_size()} vs {ctypes.sizeof(ForwardArgs)}")
    if lib.psk_forward_args_size() != ctypes.sizeof(ForwardArgs) or fl is None:
        return
    dt, heads, kvh, dim, hidden, layers = torch.bfloat16, 4, 2, 512, 1024, 2
    lens = [300, 17, 600]
    batch, tokens = len(lens), len(lens)

    def w(*shape, scale=0.05):
        return (scale * torch.randn(*shape, generator=gen, device="cuda")).to(dt)
    weights = [dict(attention_norm=(1 + w(dim, scale=0.1)), wqkv=w((heads + 2 * kvh) * HEAD_DIM, dim), wo=w(dim, heads * HEAD_DIM),
                    ffn_norm=(1 + w(dim, scale=0.1)), w13=w(2 * hidden, dim), w2=w(dim, hidden)) for _ in range(layers)]
    final_norm = 1 + w(dim, scale=0.1)
    keys = [[torch.randn(n, kvh, HEAD_DIM, generator=gen, device="cuda").to(dt) for n in lens] for _ in range(layers)]
    values = [[torch.randn(n, kvh, HEAD_DIM, generator=gen, device="cuda").to(dt) for n in lens] for _ in range(layers)]
    pos = torch.arange(8192, device="cuda", dtype=torch.float32)[:, None] * (500000.0 ** (-torch.arange(0, HEAD_DIM, 2, device="cuda") / HEAD_DIM))[None]
    rope = torch.stack([pos.cos(), pos.sin()], -1).contiguous()
    embeddings = torch.randn(tokens, dim, generator=gen, device="cuda").to(dt)
    seqlens = torch.tensor(lens, dtype=torch.int32, device="cuda")
    positions = (seqlens - 1).long()

    def run(block, paged_kernel):
        torch.manual_seed(0)
        layer_gen = torch.Generator(device="cuda").manual_seed(99)  # the same tables for every layer
        pools = []
        for l in range(layers):
            layer_gen.manual_seed(99)
            pools.append(layout(keys[l], values[l], block, layer_gen, kvh, dt))
        table = pools[0][2]
        slots = (table.long().gather(1, (positions // block)[:, None])[:, 0] * block + positions % block).contiguous()
        layer_array = (Layer * layers)(*[Layer(*(x.data_ptr() for x in (lw["attention_norm"], lw["wqkv"], lw["wo"], lw["ffn_norm"], lw["w13"], lw["w2"],
                                                                          pools[l][0], pools[l][1]))) for l, lw in enumerate(weights)])
        residual = embeddings.clone()
        bufs = dict(normed=torch.empty(tokens, dim, dtype=dt, device="cuda"), qkv=torch.empty(tokens, (heads + 2 * kvh) * HEAD_DIM, dtype=dt, device="cuda"),
                    q=torch.empty(tokens, heads, HEAD_DIM, dtype=dt, device="cuda"), attn=torch.empty(tokens, heads, HEAD_DIM, dtype=dt, device="cuda"),
                    delta=torch.empty(tokens, dim, dtype=dt, device="cuda"), gate_up=torch.empty(tokens, 2 * hidden, dtype=dt, device="cuda"),
                    act=torch.empty(tokens, hidden, dtype=dt, device="cuda"))
        a = ForwardArgs(dtype=1, tokens=tokens, dim=dim, heads=heads, kv_heads=kvh, head_dim=HEAD_DIM, hidden=hidden, layers=layers, norm_eps=1e-5)
        a.layer, a.final_norm, a.residual = ctypes.addressof(layer_array), final_norm.data_ptr(), residual.data_ptr()
        for n, t in bufs.items():
            setattr(a, n, t.data_ptr())
        a.positions, a.slots, a.rope = positions.data_ptr(), slots.data_ptr(), rope.data_ptr()
        q4, attn4 = bufs["q"].view(batch, 1, heads, HEAD_DIM), bufs["attn"].view(batch, 1, heads, HEAD_DIM)
        fa = fl.make_args(q4, pools[0][0], pools[0][1], attn4, seqlens, table, causal=True)
        keep = [layer_array, fa]
        if block % 256 == 0:
            splits, nbytes = fl.plan(fa, True)
            ws = torch.empty(max(nbytes // 4, 4), device="cuda")
            fa.workspace, fa.workspace_bytes = ws.data_ptr(), nbytes
            keep.append(ws)
        a.attention, a.paged, a.stream = fa, 1, torch.cuda.current_stream().cuda_stream
        if paged_kernel is not None:
            pa = pg.make_args(bufs["q"], pools[0][0], pools[0][1], bufs["attn"], seqlens, table, max(lens), 0, paged_kernel)
            pg.prepare(pa)
            keep.append(pa)
            a.decode_attention = ctypes.addressof(pa)
        rc = lib.psk_forward_layers(ctypes.byref(a))
        torch.cuda.synchronize()
        return (bufs["normed"].clone() if rc == PSK_OK else None), rc

    flash, rc0 = run(256, None)
    for kernel in KERNELS:
        ours, rc1 = run(256, kernel)
        ours16, rc2 = run(16, kernel)
        if flash is None or ours is None or ours16 is None:
            check(f"[{KERNELS[kernel]}] layer loop", False, results, f"rc {rc0} {rc1} {rc2}: {pg.error()}")
            continue
        err = (flash.float() - ours.float()).abs().max().item()
        check(f"[{KERNELS[kernel]}] layer loop: paged decode attention vs flash-attn 2 (block 256)", err < 0.1, results, f"max|diff| {err:.2e}")
        check(f"[{KERNELS[kernel]}] layer loop: blocks 16 and 256 give the same bits", torch.equal(ours.view(torch.int16), ours16.view(torch.int16)), results)


def benchmark(pg, fl, gen):
    rows = []
    h, hk, dtype = 32, 8, torch.bfloat16
    for batch, ctx in [(49, 512), (8, 8192), (64, 2048), (1, 8192), (256, 512), (128, 1024)]:
        for block in (16, 256):
            k, v, table, seqlens = make_paged(batch, [ctx] * batch, hk, block, dtype, gen, spare_blocks=0)
            q = torch.randn(batch, h, HEAD_DIM, generator=gen, device="cuda").to(dtype)
            kv_bytes = 2 * batch * ctx * hk * HEAD_DIM * q.element_size()
            iters = max(20, min(400, int(4e10 / kv_bytes)))
            figures = {}
            for kernel in KERNELS:
                out = torch.empty_like(q)
                a = pg.make_args(q, k, v, out, seqlens, table, ctx, 0, kernel)
                splits = pg.prepare(a)
                ref = ctypes.byref(a)
                launch = pg.lib.psk_paged_decode
                ms = bench_ms(lambda: launch(ref), iters)
                figures[kernel] = (splits, ms * 1e3, kv_bytes / (ms * 1e-3) / 1e12, out)
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
                diff = (out4[:, 0].float() - figures[0][3].float()).abs().max().item()
                flash = f"{fms * 1e3:.1f} us {kv_bytes / (fms * 1e-3) / 1e12:.2f} TB/s (splits {fsplits}, max|ours - flash| {diff:.1e})"
            t, c = figures[0], figures[1]
            rows.append((batch, ctx, block, t[0], t[1], t[2], c[0], c[1], c[2], flash))
            print(f"bench b={batch} ctx={ctx} block={block}: tensor cores {t[1]:.1f} us {t[2]:.2f} TB/s (splits {t[0]}); "
                  f"CUDA cores {c[1]:.1f} us {c[2]:.2f} TB/s (splits {c[0]}); flash-attn 2: {flash or '-'}", flush=True)
            del k, v, figures
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
        ("block 256 GQA 64/8 b7 (Llama 3 70B)", [8192, 4000, 2589, 700, 129, 1, 6000], 64, 8, 256, bf, 0),
        ("block 16 with a length 0", [0, 100, 700], 32, 8, 16, bf, 0),
    ]
    for s in (1, 2, 3, 7, 64):
        cases.append((f"block 16 b2 splits={s}", [1500, 2500], 32, 8, 16, bf, s))
    for c in cases:
        check_case(pg, *c, gen, results)
    check_errors(pg, gen, results)
    check_block_independence(pg, gen, results)
    try:
        check_layer_loop(pg, fl, gen, results)
    except Exception as e:  # noqa: BLE001 - a failure of the harness is a failed check, reported
        check("layer loop", False, results, repr(e))
    print(f"correctness: {sum(results)}/{len(results)} passed ({time.time() - t0:.0f} s)", flush=True)
    rows = [] if args.no_bench else benchmark(pg, fl, gen)
    print(f"\nGPU: {gpu}")
    print("| batch | context | block | tensor cores: splits, us, KV TB/s | CUDA cores: splits, us, KV TB/s | flash-attn 2 (block 256) |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]}, {r[4]:.1f}, {r[5]:.2f} | {r[6]}, {r[7]:.1f}, {r[8]:.2f} | {r[9]} |")
    print(f"correctness {sum(results)}/{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
