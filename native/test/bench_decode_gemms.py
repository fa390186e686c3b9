#!/usr/bin/env python3
"""Decode-step matmuls of Llama-3-8B on this GPU: PyTorch's linear (cuBLAS) against psk_gemv, in bf16.

    python native/test/bench_decode_gemms.py --lib build/native/libpagedsim_flash.so

Each matmul is timed inside a CUDA graph of 50 repetitions (no launch overhead), on weights larger than L2 (a new
weight matrix each repetition), and reported as time and effective weight bandwidth.
"""
import argparse
import ctypes

import torch
import torch.nn.functional as F

SHAPES = {"wqkv": (6144, 4096), "wo": (4096, 4096), "w13": (28672, 4096), "w2": (4096, 14336), "output": (128256, 4096)}
REPS = 50


def timed(fn):
    fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for r in range(REPS):
            fn(r)
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(3):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1e3 / (3 * REPS)  # microseconds per matmul


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    a = ap.parse_args()
    lib = ctypes.CDLL(a.lib)
    lib.psk_gemv.argtypes = [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p]
    print(f"GPU: {torch.cuda.get_device_name()}")
    print("| matmul | rows | torch us | torch TB/s | gemv us | gemv TB/s |")
    totals = {}
    for name, (n, k) in SHAPES.items():
        copies = max(2, int(2e9 // (n * k * 2)))  # > L2 in all
        ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
        for rows in (1, 2, 4, 8, 16, 49):
            x = torch.randn(rows, k, device="cuda", dtype=torch.bfloat16)
            y = torch.empty(rows, n, device="cuda", dtype=torch.bfloat16)
            t_torch = timed(lambda r=0: torch.mm(x, ws[r % copies].T, out=y))
            t_gemv = None
            if rows <= 8:
                # The current stream at call time: graph capture runs on a side stream.
                t_gemv = timed(lambda r=0: lib.psk_gemv(1, ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(ws[r % copies].data_ptr()),
                                                        ctypes.c_void_p(y.data_ptr()), rows, n, k,
                                                        ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)))
            gb = n * k * 2 / 1e9
            g = f"{t_gemv:8.1f} | {gb / t_gemv * 1e3:6.2f}" if t_gemv else "       - |      -"
            print(f"| {name} {n}x{k} | {rows} | {t_torch:8.1f} | {gb / t_torch * 1e3:6.2f} | {g} |")
            layers = 1 if name == "output" else 32
            totals.setdefault(rows, [0.0, 0.0])
            totals[rows][0] += layers * t_torch
            totals[rows][1] += layers * (t_gemv or t_torch)
        del ws
    for rows, (t, g) in totals.items():
        print(f"rows {rows}: a step's matmuls take {t / 1e3:.2f} ms with torch, {g / 1e3:.2f} ms with gemv where it applies")


if __name__ == "__main__":
    main()
