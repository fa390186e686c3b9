#!/usr/bin/env python3
"""Device-side check of pagedsim_kernels (the fused step kernels) through its C ABI (ctypes), against the plain
PyTorch formulation of the same step (the one src/Model's eager path uses), in bf16 and fp16.

    python native/test/check_kernels.py --lib build/native/libpagedsim_flash.so

Each kernel must match PyTorch to within one rounding of the element type (sums may be ordered differently), write
nothing outside its outputs, and refuse bad arguments with the documented status.
"""
import argparse
import ctypes
import sys

import torch
import torch.nn.functional as F

PSK_OK, PSK_ERR_NULL, PSK_ERR_DTYPE, PSK_ERR_SHAPE = 0, 1, 2, 3
DTYPES = {torch.float16: 0, torch.bfloat16: 1}
failures = 0


def check(name, ok, detail=""):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
    failures += 0 if ok else 1


def p(t):
    return ctypes.c_void_p(t.data_ptr()) if t is not None else None


def close(a, b, dtype):
    # One rounding of the element type, relative, plus a small absolute floor for values near zero.
    eps = 2 ** -6 if dtype == torch.bfloat16 else 2 ** -9  # two roundings
    diff = (a.float() - b.float()).abs()
    bound = eps * b.float().abs() + eps * 1e-2
    return bool((diff <= bound).all()), float(diff.max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    a = ap.parse_args()
    lib = ctypes.CDLL(a.lib)
    lib.psk_last_error.restype = ctypes.c_char_p
    lib.psk_add_rmsnorm.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_float, ctypes.c_void_p]
    lib.psk_rope_kv_write.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                      ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.psk_gemv.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p]
    lib.psk_linear.argtypes = lib.psk_gemv.argtypes
    lib.psk_silu_mul.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p]
    lib.psk_argmax.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]
    lib.psk_qkv_rope_kv_write.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.psk_gate_up_silu.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p]
    check("abi version", lib.psk_abi_version() == 8)
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(1)

    for dtype in DTYPES:
        dt = DTYPES[dtype]
        for rows, dim in [(1, 4096), (49, 4096), (300, 4096), (7, 256), (3, 1000), (2, 8192), (7, 8192), (2, 12288), (2, 16384)]:
            x = torch.randn(rows, dim, device=dev, generator=g).to(dtype)
            d = torch.randn(rows, dim, device=dev, generator=g).to(dtype)
            w = (1 + 0.1 * torch.randn(dim, device=dev, generator=g)).to(dtype)
            out = torch.full_like(x, float("nan"))
            res = x.clone()
            assert lib.psk_add_rmsnorm(dt, p(res), p(d), p(w), p(out), rows, dim, 1e-5, None) == PSK_OK, lib.psk_last_error()
            ref_x = x + d
            xf = ref_x.float()
            ref = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dtype) * w
            torch.cuda.synchronize()
            check(f"add_rmsnorm {dtype} {rows}x{dim} residual", torch.equal(res, ref_x))
            ok, m = close(out, ref, dtype)
            check(f"add_rmsnorm {dtype} {rows}x{dim} out", ok, f"max diff {m:.3g}")
            res2 = x.clone()
            assert lib.psk_add_rmsnorm(dt, p(res2), None, p(w), p(out), rows, dim, 1e-5, None) == PSK_OK
            xf = x.float()
            ref = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dtype) * w
            ok, m = close(out, ref, dtype)
            check(f"rmsnorm (no delta) {dtype} {rows}x{dim}", ok and torch.equal(res2, x), f"max diff {m:.3g}")

        for tokens, heads, kv, hd in [(1, 32, 8, 128), (49, 32, 8, 128), (517, 32, 8, 128), (5, 4, 2, 64), (3, 64, 8, 128), (7, 64, 8, 128)]:
            maxpos, nslots = 8192, 4096
            stride = (heads + 2 * kv) * hd + 64  # a padded row stride
            qkv = torch.randn(tokens, stride, device=dev, generator=g).to(dtype)
            pos = torch.randint(0, maxpos, (tokens,), device=dev, generator=g)
            slots = torch.randperm(nslots, device=dev, generator=g)[:tokens]
            freqs = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, device=dev)[: hd // 2].float() / hd))
            angles = torch.outer(torch.arange(maxpos, device=dev).float(), freqs)
            cis = torch.polar(torch.ones_like(angles), angles)
            q_out = torch.full((tokens, heads, hd), float("nan"), device=dev, dtype=dtype)
            kc = torch.zeros(nslots, kv, hd, device=dev, dtype=dtype)
            vc = torch.zeros(nslots, kv, hd, device=dev, dtype=dtype)
            rope = torch.view_as_real(cis).contiguous()
            st = lib.psk_rope_kv_write(dt, p(qkv), stride, p(pos), p(slots), p(rope), tokens, heads, kv, hd, p(q_out), p(kc), p(vc), None)
            assert st == PSK_OK, lib.psk_last_error()

            def rot(t):
                pairs = torch.view_as_complex(t.float().reshape(tokens, t.shape[1], -1, 2))
                return torch.view_as_real(pairs * cis[pos].unsqueeze(1)).flatten(2).to(dtype)
            q = qkv[:, : heads * hd].reshape(tokens, heads, hd)
            k = qkv[:, heads * hd:(heads + kv) * hd].reshape(tokens, kv, hd)
            v = qkv[:, (heads + kv) * hd:(heads + 2 * kv) * hd].reshape(tokens, kv, hd)
            ok, m = close(q_out, rot(q), dtype)
            check(f"rope q {dtype} t={tokens} h={heads}/{kv} d={hd}", ok, f"max diff {m:.3g}")
            ok, m = close(kc[slots], rot(k), dtype)
            untouched = torch.ones(nslots, dtype=torch.bool, device=dev)
            untouched[slots] = False
            check(f"rope k -> cache {dtype} t={tokens}", ok and bool((kc[untouched] == 0).all()), f"max diff {m:.3g}")
            check(f"v -> cache {dtype} t={tokens}", torch.equal(vc[slots], v) and bool((vc[untouched] == 0).all()))

        for rows, hidden in [(1, 14336), (49, 14336), (300, 14336), (3, 100), (1, 28672), (7, 28672)]:
            gu = (2 * torch.randn(rows, 2 * hidden, device=dev, generator=g)).to(dtype)
            out = torch.full((rows, hidden), float("nan"), device=dev, dtype=dtype)
            assert lib.psk_silu_mul(dt, p(gu), p(out), rows, hidden, None) == PSK_OK, lib.psk_last_error()
            ref = F.silu(gu[:, :hidden]) * gu[:, hidden:]
            ok, m = close(out, ref, dtype)
            check(f"silu_mul {dtype} {rows}x{hidden}", ok, f"max diff {m:.3g}")

        for rows, n_out, k_in in [(1, 6144, 4096), (3, 4096, 14336), (8, 1000, 4096), (5, 77, 24)]:
            x = torch.randn(rows, k_in, device=dev, generator=g).to(dtype)
            w = (torch.randn(n_out, k_in, device=dev, generator=g) / k_in ** 0.5).to(dtype)
            y = torch.full((rows, n_out), float("nan"), device=dev, dtype=dtype)
            assert lib.psk_gemv(dt, p(x), p(w), p(y), rows, n_out, k_in, None) == PSK_OK, lib.psk_last_error()
            exact = (x.double() @ w.double().T)
            # One rounding of the result, plus float32 accumulation error over k_in terms.
            err = (y.double() - exact).abs().max().item()
            tol = (2 ** -8 if dtype == torch.bfloat16 else 2 ** -11) * exact.abs().max().item() + 1e-6 * k_in ** 0.5
            torch_err = (F.linear(x, w).double() - exact).abs().max().item()
            check(f"gemv {dtype} {rows}x{k_in} -> {n_out}", err <= tol, f"max err {err:.3g} (torch's linear {torch_err:.3g})")

        # psk_linear: the layer loop's matmul (gemv; on compute capability 9.0 the skinny tensor-core kernel for 2..8
        # rows and the TMA + wgmma one for 9..64; cuBLAS).
        for rows, n_out, k_in in [(2, 6144, 4096), (5, 4096, 14336), (8, 28672, 4096), (3, 1024, 256), (7, 1000, 4096),
                                  (8, 4080, 512), (9, 4096, 4096), (16, 4096, 14336), (49, 4096, 4096), (1, 4096, 4096),
                                  (12, 6144, 4096), (33, 28672, 4096), (49, 4080, 512), (64, 4096, 14336), (57, 16000, 4096),
                                  (64, 208, 256), (40, 4096, 128), (20, 4096, 64), (49, 128256, 4096), (65, 4096, 4096),
                                  # Llama 3 70B at batch 1 and 7: wqkv, wo, w13, w2, the output head
                                  (1, 10240, 8192), (7, 10240, 8192), (1, 8192, 8192), (7, 8192, 8192), (1, 57344, 8192),
                                  (7, 57344, 8192), (1, 8192, 28672), (7, 8192, 28672), (7, 128256, 8192)]:
            x = torch.randn(rows, k_in, device=dev, generator=g).to(dtype)
            w = (torch.randn(n_out, k_in, device=dev, generator=g) / k_in ** 0.5).to(dtype)
            y = torch.full((rows, n_out), float("nan"), device=dev, dtype=dtype)
            assert lib.psk_linear(dt, p(x), p(w), p(y), rows, n_out, k_in, None) == PSK_OK, lib.psk_last_error()
            y2 = torch.full_like(y, float("nan"))
            assert lib.psk_linear(dt, p(x), p(w), p(y2), rows, n_out, k_in, None) == PSK_OK, lib.psk_last_error()
            exact = (x.double() @ w.double().T)
            err = (y.double() - exact).abs().max().item()
            tol = (2 ** -8 if dtype == torch.bfloat16 else 2 ** -11) * exact.abs().max().item() + 1e-6 * k_in ** 0.5
            torch_err = (F.linear(x, w).double() - exact).abs().max().item()
            check(f"linear {dtype} {rows}x{k_in} -> {n_out}", err <= tol and torch.equal(y, y2),
                  f"max err {err:.3g} (torch's linear {torch_err:.3g}); repeatable {torch.equal(y, y2)}")

        # psk_gate_up_silu: w13's matmul and SiLU·mul, one kernel where the wgmma matmul takes w13 in its wide shape;
        # it must equal psk_linear then psk_silu_mul bit for bit.
        for rows, hidden, k_in in [(49, 14336, 4096), (12, 14336, 4096), (64, 14336, 4096), (5, 14336, 4096), (49, 1000, 256), (49, 14400, 512),
                                   (1, 28672, 8192), (7, 28672, 8192)]:  # the last two: Llama 3 70B
            x = torch.randn(rows, k_in, device=dev, generator=g).to(dtype)
            w13 = (torch.randn(2 * hidden, k_in, device=dev, generator=g) / k_in ** 0.5).to(dtype)
            gate_up = torch.full((rows, 2 * hidden), float("nan"), device=dev, dtype=dtype)
            act = torch.full((rows, hidden), float("nan"), device=dev, dtype=dtype)
            assert lib.psk_gate_up_silu(dt, p(x), p(w13), p(gate_up), p(act), rows, hidden, k_in, None) == PSK_OK, lib.psk_last_error()
            gu = torch.full((rows, 2 * hidden), float("nan"), device=dev, dtype=dtype)
            ref = torch.full((rows, hidden), float("nan"), device=dev, dtype=dtype)
            assert lib.psk_linear(dt, p(x), p(w13), p(gu), rows, 2 * hidden, k_in, None) == PSK_OK, lib.psk_last_error()
            assert lib.psk_silu_mul(dt, p(gu), p(ref), rows, hidden, None) == PSK_OK, lib.psk_last_error()
            g_, u_ = (x.double() @ w13.double().T).split(hidden, dim=1)
            exact = torch.nn.functional.silu(g_) * u_
            err = (act.double() - exact).abs().max().item()
            check(f"gate_up_silu {dtype} {rows}x{k_in} -> {hidden}", torch.equal(act, ref), f"max err {err:.3g} against float64; equal to linear + silu_mul {torch.equal(act, ref)}")

        # psk_qkv_rope_kv_write: the qkv matmul with RoPE + cache write, one kernel where the wgmma matmul takes wqkv
        # with one split of k; it must equal psk_linear then psk_rope_kv_write bit for bit.
        for tokens, heads, kv, hd, k_in in [(49, 32, 8, 128, 4096), (12, 32, 8, 128, 4096), (64, 32, 8, 128, 4096), (5, 32, 8, 128, 4096),
                                            (49, 4, 2, 64, 256), (1, 64, 8, 128, 8192), (7, 64, 8, 128, 8192)]:  # the last two: Llama 3 70B
            width, maxpos, nslots = (heads + 2 * kv) * hd, 8192, 4096
            x = torch.randn(tokens, k_in, device=dev, generator=g).to(dtype)
            wqkv = (torch.randn(width, k_in, device=dev, generator=g) / k_in ** 0.5).to(dtype)
            pos = torch.randint(0, maxpos, (tokens,), device=dev, generator=g)
            slots = torch.randperm(nslots, device=dev, generator=g)[:tokens]
            freqs = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, device=dev)[: hd // 2].float() / hd))
            rope = torch.view_as_real(torch.polar(torch.ones(maxpos, hd // 2, device=dev), torch.outer(torch.arange(maxpos, device=dev).float(), freqs))).contiguous()
            outs = []
            for fused in (True, False):
                qkv = torch.full((tokens, width), float("nan"), device=dev, dtype=dtype)
                q_out = torch.full((tokens, heads, hd), float("nan"), device=dev, dtype=dtype)
                kc = torch.zeros(nslots, kv, hd, device=dev, dtype=dtype)
                vc = torch.zeros(nslots, kv, hd, device=dev, dtype=dtype)
                if fused:
                    assert lib.psk_qkv_rope_kv_write(dt, p(x), p(wqkv), p(qkv), p(pos), p(slots), p(rope), tokens, heads, kv, hd, k_in,
                                                     p(q_out), p(kc), p(vc), None) == PSK_OK, lib.psk_last_error()
                else:
                    assert lib.psk_linear(dt, p(x), p(wqkv), p(qkv), tokens, width, k_in, None) == PSK_OK, lib.psk_last_error()
                    assert lib.psk_rope_kv_write(dt, p(qkv), width, p(pos), p(slots), p(rope), tokens, heads, kv, hd, p(q_out), p(kc), p(vc), None) == PSK_OK
                outs.append((q_out, kc, vc))
            same = all(torch.equal(a, b) for a, b in zip(outs[0], outs[1]))
            check(f"qkv_rope_kv_write {dtype} t={tokens} h={heads}/{kv} d={hd} k={k_in}", same and not bool(outs[0][0].isnan().any()),
                  f"equal to linear + rope_kv_write {same}")

        # psk_argmax: greedy decoding's choice on logits in their own dtype, the first index among equal maxima.
        for rows, vocab, offset in [(49, 128256, 0), (3, 1001, 0), (2, 1024, 3)]:
            base = torch.randn(rows * vocab + offset, device=dev, generator=g).to(dtype)
            logits = base[offset:].view(rows, vocab)  # offset: rows not 16-byte aligned (the element-wise path)
            logits[0, vocab - 2] = 100.0
            logits[0, 5] = 100.0
            ids = torch.full((rows,), -1, dtype=torch.int64, device=dev)
            assert lib.psk_argmax(dt, p(logits), rows, vocab, p(ids), None) == PSK_OK, lib.psk_last_error()
            check(f"argmax {dtype} {rows}x{vocab} offset {offset}", torch.equal(ids, logits.float().argmax(-1)) and ids[0].item() == 5,
                  f"first row {ids[0].item()}")

    x = torch.zeros(2, 8, device=dev, dtype=torch.bfloat16)
    check("linear refuses 0 rows", lib.psk_linear(1, p(x), p(x), p(x), 0, 2, 8, None) == PSK_ERR_SHAPE)
    check("add_rmsnorm refuses dim 16385", lib.psk_add_rmsnorm(1, p(x), None, p(x), p(x), 1, 16385, 1e-5, None) == PSK_ERR_SHAPE)
    check("argmax refuses 0 rows", lib.psk_argmax(1, p(x), 0, 8, p(x), None) == PSK_ERR_SHAPE)
    check("qkv_rope_kv_write refuses an odd head dim", lib.psk_qkv_rope_kv_write(1, p(x), p(x), p(x), p(x), p(x), p(x), 1, 1, 1, 3, 8, p(x), p(x), p(x), None) == PSK_ERR_SHAPE)
    check("gate_up_silu refuses 0 rows", lib.psk_gate_up_silu(1, p(x), p(x), p(x), p(x), 0, 8, 8, None) == PSK_ERR_SHAPE)
    check("gemv refuses 9 rows", lib.psk_gemv(1, p(x), p(x), p(x), 9, 2, 8, None) == PSK_ERR_SHAPE)
    check("gemv refuses k not a multiple of 8", lib.psk_gemv(1, p(x), p(x), p(x), 1, 2, 12, None) == PSK_ERR_SHAPE)
    check("refuses float32", lib.psk_add_rmsnorm(7, p(x), None, p(x), p(x), 2, 8, 1e-5, None) == PSK_ERR_DTYPE and b"dtype" in lib.psk_last_error())
    check("refuses null", lib.psk_silu_mul(1, None, p(x), 2, 4, None) == PSK_ERR_NULL)
    check("refuses odd head dim", lib.psk_rope_kv_write(1, p(x), 8, p(x), p(x), p(x), 1, 1, 1, 3, p(x), p(x), p(x), None) == PSK_ERR_SHAPE)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
