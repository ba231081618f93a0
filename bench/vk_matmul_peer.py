#!/usr/bin/env python3
"""bench/vk_matmul_peer.py -- the cases of bench/vk_matmul.lua in PyTorch
(cuBLAS on CUDA when available, else the CPU), same output format:
    name<TAB>median_seconds<TAB>gflops
TF32 is off for float32 (the issue's comparison).

    python3 bench/vk_matmul_peer.py [--max N] [--dtype f32|f16|all] [--reps R]
"""
import argparse
import time

import torch

CASES = [("sq%d" % s, 1, s, s, s, False) for s in (256, 512, 1024, 2048, 4096, 8192)] + [
    ("llm_4096x4096x11008", 1, 4096, 4096, 11008, False),
    ("llm_4096x4096x11008_bT", 1, 4096, 4096, 11008, True),
    ("llm_4096x11008x4096_bT", 1, 4096, 11008, 4096, True),
    ("bmm_8x1024", 8, 1024, 1024, 1024, False),
    ("decode_16x4096x4096_bT", 1, 16, 4096, 4096, True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=8192)
    ap.add_argument("--dtype", default="all")
    ap.add_argument("--reps", type=int, default=0)
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    print("#device\ttorch %s %s" % (torch.__version__, dev if dev == "cpu" else
                                      torch.cuda.get_device_name(0)))
    dtypes = {"f32": [torch.float32], "f16": [torch.float16]}.get(
        args.dtype, [torch.float32, torch.float16])
    for dt in dtypes:
        if dev == "cpu" and dt == torch.float16:
            continue
        for name, batch, n, k, m, bt in CASES:
            if max(n, k, m) > args.max:
                continue
            a = torch.randn((batch, n, k) if batch > 1 else (n, k), device=dev, dtype=dt)
            if bt:
                b = torch.randn((m, k), device=dev, dtype=dt).T
            else:
                b = torch.randn((batch, k, m) if batch > 1 else (k, m), device=dev, dtype=dt)
            flops = 2.0 * batch * n * k * m
            reps = args.reps or max(3, min(20, int(2e12 / flops)))
            times = []
            for t in range(2 + reps):
                sync()
                t0 = time.perf_counter()
                c = a @ b
                sync()
                if t >= 2:
                    times.append(time.perf_counter() - t0)
                del c
            times.sort()
            med = times[len(times) // 2] if len(times) % 2 else \
                (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
            tag = "f32_" if dt == torch.float32 else "f16_"
            print("%s%s\t%.6f\t%.1f" % (tag, name, med, flops / med / 1e9), flush=True)


if __name__ == "__main__":
    main()
