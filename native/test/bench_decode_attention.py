#!/usr/bin/env python3
"""Decode attention of Llama-3-8B (32 query / 8 KV heads, head dim 128, bf16, pages of 256) through psf_fwd_paged,
for each split count: how the split of the KV sequence across thread blocks changes the time of one layer's call.

    python native/test/bench_decode_attention.py --lib build/native/libpagedsim_flash.so
"""
import argparse
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_flash import HEAD_DIM, Flash, bench_ms, make_paged  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--shapes", default="49x512,49x256,49x1024,16x512,1x512,64x2048")
    ap.add_argument("--splits", default="0,1,2,3,4,6,8")
    a = ap.parse_args()
    fl = Flash(a.lib)
    gen = torch.Generator(device="cuda").manual_seed(7)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    print(f"GPU: {torch.cuda.get_device_name()} ({sms} SMs)")
    print("| batch x context | splits | us per layer | KV TB/s |")
    for shape in a.shapes.split(","):
        batch, ctx = (int(v) for v in shape.split("x"))
        k, v, table, seqlens = make_paged(batch, [ctx] * batch, 8, 256, torch.bfloat16, gen, spare_blocks=0)
        q = torch.randn(batch, 1, 32, HEAD_DIM, generator=gen, device="cuda").to(torch.bfloat16)
        out = torch.empty_like(q)
        kv_bytes = 2 * batch * ctx * 8 * HEAD_DIM * 2
        for splits in (int(s) for s in a.splits.split(",")):
            args = fl.make_args(q, k, v, out, seqlens, table, num_splits=splits)
            used, nbytes = fl.plan(args, True)
            ws = torch.empty(max(nbytes // 4, 4), device="cuda")
            args.workspace, args.workspace_bytes = ws.data_ptr(), nbytes
            ref = ctypes.byref(args)
            ms = bench_ms(lambda: fl.lib.psf_fwd_paged(ref), 200)
            label = f"{used} (heuristic)" if splits == 0 else str(used)
            print(f"| {batch} x {ctx} | {label} | {ms * 1e3:.1f} | {kv_bytes / (ms * 1e-3) / 1e12:.2f} |", flush=True)
        del k, v
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
