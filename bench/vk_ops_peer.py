#!/usr/bin/env python3
"""bench/vk_ops_peer.py -- the cases of bench/vk_ops.lua in PyTorch on CUDA
(or the CPU when CUDA is absent), same output format:
    name<TAB>median_seconds<TAB>value<TAB>unit"""
import torch

from peer_util import dev, print_device, report, scale, timed

print_device()
n = (256 * 1024 * 1024) // scale
a = torch.rand(n, device=dev)
b = torch.rand(n, device=dev)
s = timed(lambda: a + b, 10)
report("add_f32_256M", s, 3 * 4 * n / s / 1e9, "GB/s")
s = timed(lambda: a.clone(), 10)
report("copy_f32_256M", s, 2 * 4 * n / s / 1e9, "GB/s")
s = timed(lambda: a.half(), 10)
report("astype_f32_f16_256M", s, 6 * n / s / 1e9, "GB/s")
del a, b
rows, cols = 16384 // max(1, int(scale ** 0.5)), 16384
m = torch.randn(rows, cols, device=dev)
s = timed(lambda: torch.softmax(m, -1), 10)
report("softmax_16384x16384", s, 2 * 4 * rows * cols / s / 1e9, "GB/s")
s = timed(lambda: m.sum(-1), 10)
report("sum_rows_16384x16384", s, 4 * rows * cols / s / 1e9, "GB/s")
s = timed(lambda: m.sum(), 10)
report("sum_all_16384x16384", s, 4 * rows * cols / s / 1e9, "GB/s")
s = timed(lambda: m.argmax(-1), 10)
report("argmax_rows_16384x16384", s, 4 * rows * cols / s / 1e9, "GB/s")
one = torch.ones(1, device=dev)
s = timed(lambda: one + 1, 50)
report("eval_one_element", s, s * 1e6, "us")
x = torch.ones(256, device=dev)


def chain():
    y = x
    for _ in range(2000):
        y = y + 1
    return y


s = timed(chain, 5)
report("chain_2000_nodes", s, s / 2000 * 1e6, "us/node")
